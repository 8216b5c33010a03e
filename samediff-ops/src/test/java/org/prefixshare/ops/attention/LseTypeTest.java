package org.prefixshare.ops.attention;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The row log-sum-exp output is FLOAT for FLOAT and 16-bit inputs and DOUBLE for DOUBLE inputs, in every place its
 * type is decided: the op's declared output types (SameDiff's graph variables), the shapes eager calls allocate from,
 * and the dense reference. A 16-bit lse would round exp(s - lse) in the backward by up to ~3%.
 */
class LseTypeTest {

    private static final DataType[][] Q_AND_LSE = {
            {DataType.FLOAT, DataType.FLOAT},
            {DataType.DOUBLE, DataType.DOUBLE},
            {DataType.BFLOAT16, DataType.FLOAT},
            {DataType.HALF, DataType.FLOAT},
    };

    @Test
    void declaredOutputTypes() {
        for (DataType[] c : Q_AND_LSE) {
            List<DataType> types = new PrefixShareAttention().calculateOutputDataTypes(
                    List.of(c[0], c[0], c[0], DataType.INT, DataType.INT));
            assertEquals(List.of(c[0], c[1]), types, "output types for q of type " + c[0]);
        }
    }

    @Test
    void eagerOutputShapes() {
        for (DataType[] c : Q_AND_LSE) {
            INDArray q = Nd4j.zeros(c[0], 2, 5, 4, 8);
            INDArray kv = Nd4j.zeros(c[0], 2, 5, 2, 8);
            INDArray node = Nd4j.zeros(DataType.INT, 2, 5);
            List<LongShapeDescriptor> shapes = new PrefixShareAttention().outputShapes(List.of(q, kv, kv, node, node));
            assertEquals(c[0], shapes.get(0).dataType(), "out type for " + c[0]);
            assertArrayEquals(new long[]{2, 5, 4, 8}, shapes.get(0).getShape());
            assertEquals(c[1], shapes.get(1).dataType(), "lse type for " + c[0]);
            assertArrayEquals(new long[]{2, 4, 5}, shapes.get(1).getShape());
        }
    }

    @Test
    void graphVariablesOfBothImplementations() {
        for (DataType[] c : Q_AND_LSE) {
            for (PrefixShareOps.Implementation impl : new PrefixShareOps.Implementation[]{
                    PrefixShareOps.Implementation.NATIVE, PrefixShareOps.Implementation.REFERENCE}) {
                SameDiff sd = SameDiff.create();
                SDVariable q = sd.placeHolder("q", c[0], -1, -1, 4, 8);
                SDVariable k = sd.placeHolder("k", c[0], -1, -1, 2, 8);
                SDVariable v = sd.placeHolder("v", c[0], -1, -1, 2, 8);
                SDVariable node = sd.placeHolder("node", DataType.INT, -1, -1);
                SDVariable end = sd.placeHolder("end", DataType.INT, -1, -1);
                SDVariable[] r = PrefixShareOps.attentionWithLse(sd, q, k, v, node, end, 0.35, 4, 2, impl);
                assertEquals(c[0], r[0].dataType(), impl + " out type for " + c[0]);
                assertEquals(c[1], r[1].dataType(), impl + " lse type for " + c[0]);
            }
        }
    }

    @Test
    void float64RunsWithDoubleLse() {
        Nd4j.getRandom().setSeed(3);
        INDArray q = Nd4j.randn(DataType.DOUBLE, 1, 6, 2, 8);
        INDArray k = Nd4j.randn(DataType.DOUBLE, 1, 6, 1, 8);
        INDArray v = Nd4j.randn(DataType.DOUBLE, 1, 6, 1, 8);
        INDArray node = Nd4j.createFromArray(new int[][]{{0, 0, 1, 1, 2, 2}});
        INDArray end = Nd4j.createFromArray(new int[][]{{2, 2, 1, 1, 2, 2}});
        INDArray[] f = PrefixShareOps.forward(q, k, v, node, end, 0.35);
        assertEquals(DataType.DOUBLE, f[1].dataType());
        INDArray[] g = PrefixShareOps.backward(q, k, v, node, end, f[0], f[1], Nd4j.onesLike(f[0]), 0.35);
        assertEquals(DataType.DOUBLE, g[0].dataType());
    }
}
