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
 * gradient, so epsilon is halved before the (linear) backward pass.
 */
final class HalvedEpsilonSameDiffLayer extends SameDiffLayer {

    HalvedEpsilonSameDiffLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        return super.backpropGradient(epsilon.mul(0.5), workspaceMgr);
    }
}
