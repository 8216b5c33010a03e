package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.layers.samediff.SameDiffVertex;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.samediff.SameDiffGraphVertex;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J 1.0.0-M2.1's {@link SameDiffGraphVertex} backpropagates twice the gradient (its external-errors function
 * seeds the backward pass with epsilon and the gradient graph adds it once more; DL4J's GradientCheckUtil fails
 * with relative error exactly 1/3). Backprop is linear in epsilon, so halving epsilon before the pass gives the exact
 * gradient for parameters and inputs alike. {@code GradientCheckTest} guards this: should a DL4J upgrade fix the
 * bug, those checks fail and this class must go. It also creates the gradient function out of DL4J's workspaces
 * (M2.1's vertex creates it inside the backprop workspace; see {@link #doBackward}), refuses DL4J masks and names a
 * changed row length ({@link InputGuard}).
 */
final class HalvedEpsilonGraphVertex extends SameDiffGraphVertex {

    HalvedEpsilonGraphVertex(SameDiffVertex config, ComputationGraph graph, String name, int vertexIndex,
                             INDArray paramsView, boolean initParams, DataType dataType) {
        super(config, graph, name, vertexIndex, paramsView, initParams, dataType);
    }

    /** Names a changed row length ({@link InputGuard}) before SameDiff sees the inputs (masks: the config refuses). */
    private void guard() {
        AbstractAttentionVertex v = (AbstractAttentionVertex) config;
        String what = v.describe();
        java.util.List<String> names = v.getVertexParams().getInputs();
        for (int i = 0; i < names.size() && i < inputs.length; i++) {
            int tAxis = i > 0 ? 1 : v.getDataFormat() == org.deeplearning4j.nn.conf.RNNFormat.NCW ? 2 : 1;
            InputGuard.checkShape(sameDiff, names.get(i), inputs[i], what, tAxis);
        }
    }

    @Override
    public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
        guard();
        return super.doForward(training, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        guard();
        // M2.1 creates the vertex's gradient function inside DL4J's backprop workspace, so arrays made while
        // cloning ops (e.g. the axis arrays of reductions) are later overwritten ("Axis array [1065353216] ...").
        // Create it here, out of any workspace, as SameDiffLayer does.
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (sameDiff == null) {
                doInit();
            }
            if (!sameDiff.hasGradientFunction()) {
                sameDiff.createGradFunction(config.getVertexParams().getInputs().toArray(new String[0]));
            }
        }
        INDArray eps = getEpsilon();
        setEpsilon(eps.mul(0.5));
        try {
            return super.doBackward(tbptt, workspaceMgr);
        } finally {
            setEpsilon(eps);
        }
    }
}
