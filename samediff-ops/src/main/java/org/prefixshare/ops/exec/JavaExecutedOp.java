package org.prefixshare.ops.exec;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.List;

/**
 * A custom op that runs in Java (calling our own kernels) instead of libnd4j. ND4J 1.0.0-M2.1 has no user-op API:
 * {@link PrefixShareOpExecutioner} recognises ops of this interface and runs them; everything else goes to ND4J.
 */
public interface JavaExecutedOp {

    /** Output shapes and types for these inputs. */
    List<LongShapeDescriptor> outputShapes(List<INDArray> inputs);

    /**
     * Computes the outputs into {@code outputs} (allocated by the caller with {@link #outputShapes}). The arrays
     * are only valid during the call: never keep them.
     */
    void execute(List<INDArray> inputs, List<INDArray> outputs);
}
