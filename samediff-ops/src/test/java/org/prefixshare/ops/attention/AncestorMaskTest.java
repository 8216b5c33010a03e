package org.prefixshare.ops.attention;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The rule's other forms (the fast pair count, the SameDiff graph mask) against the rule itself, pair by pair. */
class AncestorMaskTest {

    private static long countPairByPair(int[] node, int[] end) {
        long n = 0;
        for (int q = 0; q < node.length; q++) {
            for (int k = 0; k < node.length; k++) {
                n += AncestorMask.visible(node, end, q, k) ? 1 : 0;
            }
        }
        return n;
    }

    @Test
    void theFastPairCountIsThePairByPairCount() {
        Random rnd = new Random(7);
        for (int i = 0; i < 200; i++) {
            int[][] row = RandomLayouts.row(rnd, 1 + rnd.nextInt(97), 1 + rnd.nextInt(5));
            assertEquals(countPairByPair(row[0], row[1]), AncestorMask.visiblePairs(row[0], row[1]), "row " + i);
        }
        // layouts the builders never make still count exactly: a node whose subtree ends before it sees nothing,
        // and runs of one node split by another
        int[] node = {0, 2, 2, 1, 1, 2};
        int[] end = {3, 1, 1, 1, 1, 2};
        assertEquals(countPairByPair(node, end), AncestorMask.visiblePairs(node, end));
        assertEquals(0, AncestorMask.visiblePairs(new int[0], new int[0]));
    }

    @Test
    void theGraphMaskIsTheRule() {
        Random rnd = new Random(11);
        int b = 3;
        int t = 37;
        int[][][] rows = new int[b][][];
        double[][] node = new double[b][t];
        double[][] end = new double[b][t];
        for (int r = 0; r < b; r++) {
            rows[r] = RandomLayouts.row(rnd, t, 3);
            for (int i = 0; i < t; i++) {
                node[r][i] = rows[r][0][i];
                end[r][i] = rows[r][1][i];
            }
        }
        SameDiff sd = SameDiff.create();
        SDVariable n = sd.placeHolder("node", DataType.DOUBLE, -1, t);
        SDVariable e = sd.placeHolder("end", DataType.DOUBLE, -1, t);
        SDVariable mask = AncestorMask.visibility(sd, n, e);
        INDArray m = mask.eval(Map.of("node", Nd4j.createFromArray(node), "end", Nd4j.createFromArray(end)));
        assertEquals(4, m.rank());
        for (int r = 0; r < b; r++) {
            for (int q = 0; q < t; q++) {
                for (int k = 0; k < t; k++) {
                    double expected = AncestorMask.visible(rows[r][0], rows[r][1], q, k) ? 1 : 0;
                    assertEquals(expected, m.getDouble(r, 0, q, k), "row " + r + " q " + q + " k " + k);
                }
            }
        }
    }
}
