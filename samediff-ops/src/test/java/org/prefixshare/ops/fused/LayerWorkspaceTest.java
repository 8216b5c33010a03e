package org.prefixshare.ops.fused;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decoder layer's saved-activation blocks start on 64-byte boundaries wherever ND4J put the array, and the
 * backward finds them where the forward put them.
 */
class LayerWorkspaceTest {

    private static final LayerWorkspace LW = new LayerWorkspace(37, 1, 37, 24, 4, 2, 8, 40);

    private static long address(INDArray a) {
        return a.data().addressPointer().address();
    }

    @Test
    void blocksStartOnCacheLinesAtEveryOffsetOfTheArray() {
        for (DataType model : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            DataType storageType = LayerWorkspace.storageType(model);
            INDArray big = Nd4j.create(storageType, LW.length() + 16);
            for (int shift = 0; shift < 16; shift++) {
                INDArray storage = big.get(NDArrayIndex.interval(shift, shift + LW.length()));
                LayerWorkspace.Views placed = LW.place(storage, model);
                LayerWorkspace.Views read = LW.views(storage, model);
                for (LayerWorkspace.Block b : LayerWorkspace.Block.values()) {
                    long at = address(placed.rows(b));
                    assertEquals(0, at % 64, model + " shift " + shift + " block " + b + " at " + at);
                    assertEquals(at, address(read.rows(b)), "the backward's view of " + b);
                    assertTrue(at + placed.rows(b).length() * model.width()
                            <= address(storage) + storage.length() * storageType.width(), b + " inside the array");
                }
            }
        }
    }

    @Test
    void anArrayTheForwardDidNotFillIsRefused() {
        INDArray storage = Nd4j.create(LayerWorkspace.storageType(DataType.FLOAT), LW.length()).assign(99);
        Exception e = assertThrows(IllegalStateException.class, () -> LW.views(storage, DataType.FLOAT));
        assertTrue(e.getMessage().contains("start at element 99"), e.getMessage());
    }
}
