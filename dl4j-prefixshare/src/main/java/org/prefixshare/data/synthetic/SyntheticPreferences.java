package org.prefixshare.data.synthetic;

import org.prefixshare.data.Content;
import org.prefixshare.data.PreferenceExample;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The project's own preference task, the embedded default of {@code prefixshare train}: no files, deterministic for
 * a seed, learnable by the tiny model in minutes. Each prompt asks for a polite reply about a short random phrase;
 * the chosen response is polite and repeats the phrase exactly, the rejected one is rude and garbles it (words
 * dropped or swapped). The preference therefore has a style signal (easy) and a content signal (copying), and
 * held-out examples use phrases never seen in training. Some examples carry a third response (polite but garbled,
 * ranked between the two) so the N > 2 path is exercised too.
 */
public final class SyntheticPreferences {

    private static final String[] WORDS = {
            "red", "blue", "green", "quiet", "river", "stone", "apple", "cloud", "train", "paper", "lamp", "tiger",
            "window", "garden", "silver", "music", "winter", "candle", "forest", "ocean", "pencil", "bridge",
            "orange", "rocket", "mirror", "planet", "coffee", "yellow", "market", "island"};
    private static final String[] ASKS = {
            "Please reply kindly about: ", "Say something nice about: ", "Respond politely to: ",
            "Give a friendly answer on: "};
    private static final String[] POLITE_OPEN = {"Of course! ", "Sure, happy to help. ", "Gladly: ", "Certainly. "};
    private static final String[] POLITE_CLOSE = {" Thank you!", " Have a nice day.", " Kind regards.", " Cheers!"};
    private static final String[] RUDE_OPEN = {"Ugh. ", "Whatever: ", "No. ", "Fine, "};
    private static final String[] RUDE_CLOSE = {" Go away.", " Stop asking.", " Not my problem.", " Bye."};

    private SyntheticPreferences() {
    }

    /**
     * {@code count} examples from {@code seed}. Two calls with different seeds give disjoint phrase sets with
     * overwhelming probability (phrases are 3 to 5 words from a 30-word list, in order).
     */
    public static List<PreferenceExample> generate(int count, long seed) {
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0, got " + count);
        }
        Random rnd = new Random(seed);
        List<PreferenceExample> out = new ArrayList<>(count);
        String source = "synthetic(seed=" + seed + ")";
        for (int i = 0; i < count; i++) {
            List<String> phrase = phrase(rnd);
            String prompt = pick(rnd, ASKS) + String.join(" ", phrase) + "\n";
            String chosen = pick(rnd, POLITE_OPEN) + String.join(" ", phrase) + "." + pick(rnd, POLITE_CLOSE);
            List<String> garbled = garble(rnd, phrase);
            String rejected = pick(rnd, RUDE_OPEN) + String.join(" ", garbled) + "." + pick(rnd, RUDE_CLOSE);
            List<Content> responses = new ArrayList<>();
            responses.add(Content.text(chosen));
            if (rnd.nextInt(4) == 0) { // a middle-ranked third response: polite, garbled
                responses.add(Content.text(pick(rnd, POLITE_OPEN) + String.join(" ", garble(rnd, phrase)) + "."
                        + pick(rnd, POLITE_CLOSE)));
            }
            responses.add(Content.text(rejected));
            out.add(new PreferenceExample(i, source, i + 1L, Content.text(prompt), responses));
        }
        return out;
    }

    private static List<String> phrase(Random rnd) {
        int n = 3 + rnd.nextInt(3);
        List<String> words = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            words.add(pick(rnd, WORDS));
        }
        return words;
    }

    /** Drops one word or swaps two, so the result always differs from the phrase. */
    private static List<String> garble(Random rnd, List<String> phrase) {
        List<String> g = new ArrayList<>(phrase);
        for (int tries = 0; tries < 10 && g.equals(phrase); tries++) {
            if (rnd.nextBoolean()) {
                g.remove(rnd.nextInt(g.size()));
            } else {
                int a = rnd.nextInt(g.size());
                int b = rnd.nextInt(g.size());
                String t = g.get(a);
                g.set(a, g.get(b));
                g.set(b, t);
            }
        }
        if (g.equals(phrase)) {
            g.remove(0);
        }
        return g;
    }

    private static String pick(Random rnd, String[] options) {
        return options[rnd.nextInt(options.length)];
    }
}
