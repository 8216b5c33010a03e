package org.prefixshare.layout;

import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A generator of random tokenised examples for tests (no tokenizer, no files). */
public final class RandomExamples {

    private RandomExamples() {
    }

    /**
     * {@code n} examples with ids {@code 0..n-1}, prompts of 0..maxPrompt tokens (0 and 1 are drawn often), 2 to 4
     * responses of 1..maxResponse tokens (2 when the prompt is empty, so every response has a label), token ids in
     * [3, 1000).
     */
    public static List<TokenizedExample> generate(long seed, int n, int maxPrompt, int maxResponse) {
        Random rnd = new Random(seed);
        List<TokenizedExample> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int pick = rnd.nextInt(10);
            int p = pick == 0 ? 0 : pick == 1 ? 1 : rnd.nextInt(maxPrompt + 1);
            int nr = 2 + rnd.nextInt(3);
            int[] prompt = ids(rnd, p);
            List<int[]> rs = new ArrayList<>(nr);
            for (int r = 0; r < nr; r++) {
                int l = (p == 0 ? 2 : 1) + rnd.nextInt(Math.max(1, maxResponse - (p == 0 ? 1 : 0)));
                int[] c = ids(rnd, l);
                if (r > 0 && rnd.nextInt(20) == 0) {
                    c = rs.get(0).clone(); // identical responses happen
                }
                rs.add(c);
            }
            out.add(new TokenizedExample(i, "random:" + i, prompt, rs, 0));
        }
        return out;
    }

    private static int[] ids(Random rnd, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = 3 + rnd.nextInt(997);
        }
        return a;
    }
}
