package org.prefixshare.ops.attention;

import java.util.Random;

/**
 * Random row layouts (node / subtreeEnd) as docs/design.md ("The row layout") defines them: documents of a prompt
 * node followed by 2 to 4 response nodes, packed into a row, the rest padding (a node of its own). Prompts may be
 * empty or one token.
 */
final class RandomLayouts {

    private RandomLayouts() {
    }

    /** One row of length t with 1 to maxDocs documents. Returns {node, subtreeEnd}. */
    static int[][] row(Random rnd, int t, int maxDocs) {
        int[] node = new int[t];
        int[] end = new int[t];
        int docs = 1 + rnd.nextInt(maxDocs);
        int pos = 0;
        int nextNode = 0;
        for (int d = 0; d < docs && pos < t; d++) {
            int responses = 2 + rnd.nextInt(3);
            int budget = Math.max(1, (t - pos) / (docs - d));
            int prompt = switch (rnd.nextInt(4)) {
                case 0 -> 0;
                case 1 -> 1;
                default -> rnd.nextInt(Math.max(1, budget / 2));
            };
            int promptNode = nextNode;
            int last = promptNode + responses;
            for (int i = 0; i < prompt && pos < t; i++, pos++) {
                node[pos] = promptNode;
                end[pos] = last;
            }
            for (int r = 1; r <= responses; r++) {
                int len = 1 + rnd.nextInt(Math.max(1, (budget - prompt) / responses));
                for (int i = 0; i < len && pos < t; i++, pos++) {
                    node[pos] = promptNode + r;
                    end[pos] = promptNode + r;
                }
            }
            nextNode = last + 1;
        }
        for (; pos < t; pos++) { // padding: a node of its own
            node[pos] = nextNode;
            end[pos] = nextNode;
        }
        return new int[][]{node, end};
    }
}
