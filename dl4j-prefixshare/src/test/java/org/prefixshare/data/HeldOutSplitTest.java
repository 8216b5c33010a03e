package org.prefixshare.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The held-out split: a seeded shuffle of prompts, no prompt on both sides, reproducible, order kept. */
class HeldOutSplitTest {

    /** A sorted file: 200 prompts, prompt k repeated 1 + k % 3 times, in prompt order. */
    private static List<PreferenceExample> sortedFile() {
        List<PreferenceExample> out = new ArrayList<>();
        for (int k = 0; k < 200; k++) {
            for (int r = 0; r <= k % 3; r++) {
                out.add(new PreferenceExample(out.size(), "f", out.size() + 1, Content.text(String.format("q%03d", k)),
                        List.of(Content.text("a" + r), Content.text("b" + r))));
            }
        }
        return out;
    }

    @Test
    void noPromptIsOnBothSidesAndTheHeldOutShareIsAboutTheFraction() {
        List<PreferenceExample> all = sortedFile();
        HeldOutSplit.Split<PreferenceExample> s = HeldOutSplit.byPrompt(all, 0.15, 42);
        Set<Content> train = new HashSet<>();
        s.train().forEach(e -> train.add(e.prompt()));
        for (PreferenceExample e : s.heldOut()) {
            assertFalse(train.contains(e.prompt()), "prompt " + e.prompt().text() + " is in both splits");
        }
        assertEquals(all.size(), s.train().size() + s.heldOut().size());
        double share = s.heldOut().size() / (double) all.size();
        assertTrue(Math.abs(share - 0.15) < 0.02, "held-out share " + share);
    }

    @Test
    void aSortedFileIsNotSplitAtItsEnd() {
        List<PreferenceExample> all = sortedFile();
        HeldOutSplit.Split<PreferenceExample> s = HeldOutSplit.byPrompt(all, 0.15, 42);
        long early = s.heldOut().stream().filter(e -> e.id() < all.size() / 2).count();
        assertTrue(early > s.heldOut().size() / 4, "held-out examples come from the whole file, " + early + " of "
                + s.heldOut().size() + " from its first half");
    }

    @Test
    void reproducibleForASeedAndOrderKept() {
        List<PreferenceExample> all = sortedFile();
        HeldOutSplit.Split<PreferenceExample> a = HeldOutSplit.byPrompt(all, 0.2, 7);
        HeldOutSplit.Split<PreferenceExample> b = HeldOutSplit.byPrompt(new ArrayList<>(all), 0.2, 7);
        assertEquals(ids(a.heldOut()), ids(b.heldOut()));
        assertEquals(ids(a.train()), ids(b.train()));
        assertNotEquals(ids(a.heldOut()), ids(HeldOutSplit.byPrompt(all, 0.2, 8).heldOut()), "another seed");
        List<Long> h = ids(a.heldOut());
        List<Long> sorted = new ArrayList<>(h);
        sorted.sort(null);
        assertEquals(sorted, h, "file order kept inside a split");
    }

    @Test
    void edgeFractions() {
        List<PreferenceExample> all = sortedFile();
        assertEquals(0, HeldOutSplit.byPrompt(all, 0, 1).heldOut().size());
        assertThrows(IllegalArgumentException.class, () -> HeldOutSplit.byPrompt(all, 1.0, 1));
        assertThrows(IllegalArgumentException.class, () -> HeldOutSplit.byPrompt(all, -0.1, 1));
        // a tiny data set still trains on something
        HeldOutSplit.Split<PreferenceExample> two = HeldOutSplit.byPrompt(all.subList(0, 2), 0.5, 1);
        assertFalse(two.train().isEmpty());
    }

    private static List<Long> ids(List<PreferenceExample> es) {
        return es.stream().map(PreferenceExample::id).toList();
    }
}
