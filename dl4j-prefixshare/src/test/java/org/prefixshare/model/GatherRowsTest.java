package org.prefixshare.model;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.nativeload.NativeKernels;
import org.prefixshare.ops.nativeload.NativeLibrary;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.prefixshare.testing.FusedKernelsSwitch.withFusedKernels;

/** The row gather and its backward (a scatter-add into the table's gradient). */
class GatherRowsTest {

    @BeforeAll
    static void register() {
        GatherRows.register();
    }

    /** sum(gather(table, idx) * w): d table[r] = sum of w[i] over the i with idx[i] = r. */
    private static SameDiff graph(INDArray table, INDArray w) {
        SameDiff sd = SameDiff.create();
        SDVariable t = sd.var("table", table);
        SDVariable idx = sd.placeHolder("idx", table.dataType(), -1);
        SDVariable rows = new GatherRows(sd, t, idx).outputVariable();
        sd.setLossVariables(sd.sum("loss", rows.mul(sd.constant(w))).name());
        return sd;
    }

    @Test
    void repeatedRowsAddUpTheirGradients() {
        INDArray table = Nd4j.rand(DataType.DOUBLE, 5, 3);
        int[] idx = {4, 0, 4, 2, 4, 0, 1};
        INDArray w = Nd4j.rand(DataType.DOUBLE, idx.length, 3);
        SameDiff sd = graph(table, w);
        INDArray feed = Nd4j.createFromArray(idx).castTo(DataType.DOUBLE);

        INDArray grad = sd.calculateGradients(Map.of("idx", feed), List.of("table")).get("table");

        double[][] expected = new double[5][3];
        for (int i = 0; i < idx.length; i++) {
            for (int c = 0; c < 3; c++) {
                expected[idx[i]][c] += w.getDouble(i, c);
            }
        }
        for (int r = 0; r < 5; r++) {
            assertArrayEquals(expected[r], grad.getRow(r).toDoubleVector(), 1e-15, "row " + r);
        }
    }

    @Test
    void theNativeScatterEqualsTheJavaSumInFloat() {
        // 3,000 gathered rows of a 40-row table: each row's gradient sums ~75 float rows; both paths add them in
        // index order in double and round once, so they agree to the bit
        assertTrue(NativeLibrary.isAvailable(), "native library not loaded: " + NativeLibrary.failure());
        INDArray table = Nd4j.rand(DataType.FLOAT, 40, 33);
        int[] idx = new int[3000];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = (int) ((i * 2654435761L) % 37);  // rows 37-39 stay without a gradient
        }
        INDArray w = Nd4j.rand(DataType.FLOAT, idx.length, 33).subi(0.5);
        Map<String, INDArray> feed = Map.of("idx", Nd4j.createFromArray(idx).castTo(DataType.FLOAT));
        INDArray nativeGrad = graph(table, w).calculateGradients(feed, List.of("table")).get("table");
        INDArray javaGrad = withFusedKernels(false,
                () -> graph(table, w).calculateGradients(feed, List.of("table")).get("table"));

        assertEquals(javaGrad, nativeGrad);
        double[] expected = new double[40 * 33];
        for (int i = 0; i < idx.length; i++) {
            for (int c = 0; c < 33; c++) {
                expected[idx[i] * 33 + c] += w.getDouble(i, c);
            }
        }
        float[] got = nativeGrad.reshape(40 * 33).toFloatVector();
        for (int k = 0; k < expected.length; k++) {
            assertEquals((float) expected[k], got[k], "element " + k);
        }
    }

    @Test
    void theBackwardDoesNotLeakNativeMemory() throws Exception {
        // ND4J's unsorted_segment_sum, which the backward once used, kept native memory the size of its input on
        // every call: 4 MB a call here, 200 MB over the 50 measured calls.
        INDArray table = Nd4j.rand(DataType.FLOAT, 4000, 256);
        INDArray w = Nd4j.rand(DataType.FLOAT, 4000, 256);
        SameDiff sd = graph(table, w);
        int[] idx = new int[4000];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = (i * 7) % 4000;
        }
        Map<String, INDArray> feed = Map.of("idx", Nd4j.createFromArray(idx).castTo(DataType.FLOAT));
        for (int i = 0; i < 10; i++) {
            sd.calculateGradients(feed, List.of("table"));
        }
        long before = residentAfterCollection();
        for (int i = 0; i < 50; i++) {
            sd.calculateGradients(feed, List.of("table"));
        }
        long grown = residentAfterCollection() - before;
        assertTrue(grown < 80L << 20, "resident memory grew by " + (grown >> 20) + " MB over 50 backward passes");
    }

    private static long residentAfterCollection() throws InterruptedException {
        System.gc();
        Thread.sleep(200);
        System.gc();
        Thread.sleep(100);
        if (NativeLibrary.isAvailable()) {
            NativeKernels.releaseFreeMemory();
        }
        return Pointer.physicalBytes();
    }
}
