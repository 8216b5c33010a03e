package org.prefixshare.bench;

import java.util.Arrays;

/**
 * The node / subtreeEnd rows of the attention benchmark: {@code causal} (one document), {@code pair} (a prompt of
 * length T/2 with chosen and rejected of T/4 each: prompt = 2 x response), {@code packed} (four such pairs of T/4).
 */
public enum BenchLayouts {
    CAUSAL, PAIR, PACKED;

    /** {node, subtreeEnd} for a row of length t. */
    public int[][] row(int t) {
        int[] node = new int[t];
        int[] end = new int[t];
        switch (this) {
            case CAUSAL -> {
                // all zeros: one node, plain causal attention
            }
            case PAIR -> fillPairs(node, end, t, 1);
            case PACKED -> fillPairs(node, end, t, 4);
            default -> throw new IllegalStateException();
        }
        return new int[][]{node, end};
    }

    public String label() {
        return name().toLowerCase();
    }

    /** The sweep's paired sequence: prompt + one response of c tokens, one causal document {node, subtreeEnd}. */
    public static int[][] pairedRow(int prompt, int c) {
        return new int[][]{new int[prompt + c], new int[prompt + c]};
    }

    /** The sweep's prefix-shared row: the prompt once, then two responses of c tokens as its children. */
    public static int[][] sharedRow(int prompt, int c) {
        int t = prompt + 2 * c;
        int[] node = new int[t];
        int[] end = new int[t];
        Arrays.fill(end, 0, prompt, 2);
        Arrays.fill(node, prompt, prompt + c, 1);
        Arrays.fill(end, prompt, prompt + c, 1);
        Arrays.fill(node, prompt + c, t, 2);
        Arrays.fill(end, prompt + c, t, 2);
        return new int[][]{node, end};
    }

    private static void fillPairs(int[] node, int[] end, int t, int groups) {
        int groupLen = t / groups;
        int pos = 0;
        for (int g = 0; g < groups; g++) {
            int len = g == groups - 1 ? t - pos : groupLen;
            int prompt = len / 2;
            int chosen = (len - prompt) / 2;
            int base = 3 * g;
            Arrays.fill(node, pos, pos + prompt, base);
            Arrays.fill(end, pos, pos + prompt, base + 2);
            Arrays.fill(node, pos + prompt, pos + prompt + chosen, base + 1);
            Arrays.fill(end, pos + prompt, pos + prompt + chosen, base + 1);
            Arrays.fill(node, pos + prompt + chosen, pos + len, base + 2);
            Arrays.fill(end, pos + prompt + chosen, pos + len, base + 2);
            pos += len;
        }
    }
}
