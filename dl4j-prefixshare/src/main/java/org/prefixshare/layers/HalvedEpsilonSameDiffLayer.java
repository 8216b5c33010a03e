package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The layer twin of {@link HalvedEpsilonGraphVertex}: M2.1's {@link SameDiffLayer} backpropagates twice the
 * gradient, so epsilon is halved before the (linear) backward pass. Layers that read the row layout (named by
 * {@code layoutLayer}) also refuse DL4J feature masks and name a changed row length ({@link InputGuard}).
 */
final class HalvedEpsilonSameDiffLayer extends SameDiffLayer {

    private final String layoutLayer;

    /** A layer that works with any input (e.g. {@link RmsNorm}). */
    HalvedEpsilonSameDiffLayer(NeuralNetConfiguration conf, DataType dataType) {
        this(conf, dataType, null);
    }

    /**
     * @param layoutLayer the layer's description when it reads the row layout (masks refused, one row length), or
     *                    null
     */
    HalvedEpsilonSameDiffLayer(NeuralNetConfiguration conf, DataType dataType, String layoutLayer) {
        super(conf, dataType);
        this.layoutLayer = layoutLayer;
    }

    private void guard() {
        if (layoutLayer != null) {
            InputGuard.refuseFeatureMask(maskArray, layoutLayer);
            InputGuard.checkShape(sameDiff, INPUT_KEY, input, layoutLayer, 2);
        }
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        guard();
        return super.activate(training, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        guard();
        return super.backpropGradient(epsilon.mul(0.5), workspaceMgr);
    }
}
