package org.prefixshare.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;

/**
 * The held-out (evaluation) split of a data set: its distinct prompts are shuffled with a seed and taken in that
 * order until the held-out examples reach {@code fraction} of all, so every example of a prompt lands on the same
 * side (no prompt is both trained on and evaluated), a file sorted by topic or length still gives a representative
 * evaluation, and the same seed gives the same split. Examples keep their file order inside each split.
 */
public final class HeldOutSplit {

    /** The two sides. */
    public record Split<T>(List<T> train, List<T> heldOut) {
    }

    private HeldOutSplit() {
    }

    /** Split by the examples' prompts ({@link PreferenceExample#prompt()}). */
    public static Split<PreferenceExample> byPrompt(List<PreferenceExample> examples, double fraction, long seed) {
        return split(examples, PreferenceExample::prompt, fraction, seed);
    }

    /**
     * Split of any items by a prompt key (equal keys stay together).
     *
     * @param fraction held-out share of the items, in [0, 1); at least one prompt stays on the training side
     */
    public static <T> Split<T> split(List<T> items, Function<? super T, ?> promptKey, double fraction, long seed) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("the held-out fraction must be in [0, 1), got " + fraction);
        }
        Map<Object, Integer> counts = new LinkedHashMap<>(); // first-appearance order: independent of hashing
        for (T t : items) {
            counts.merge(promptKey.apply(t), 1, Integer::sum);
        }
        List<Object> prompts = new ArrayList<>(counts.keySet());
        Collections.shuffle(prompts, new Random(seed));
        long target = Math.round(items.size() * fraction);
        Set<Object> held = new HashSet<>();
        long taken = 0;
        for (int i = 0; i < prompts.size() - 1 && taken < target; i++) {
            held.add(prompts.get(i));
            taken += counts.get(prompts.get(i));
        }
        List<T> train = new ArrayList<>(items.size() - (int) taken);
        List<T> heldOut = new ArrayList<>((int) taken);
        for (T t : items) {
            (held.contains(promptKey.apply(t)) ? heldOut : train).add(t);
        }
        return new Split<>(train, heldOut);
    }
}
