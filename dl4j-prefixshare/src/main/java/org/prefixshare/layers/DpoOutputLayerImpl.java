package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.layers.samediff.DL4JSameDiffMemoryMgr;
import org.deeplearning4j.nn.layers.samediff.SameDiffOutputLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.loss.Metric;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The runtime layer of {@link DpoOutputLayer}: DL4J's {@link SameDiffOutputLayer} whose score pass also reads the
 * DPO metrics of the batch (same forward, no extra work), kept as plain numbers for {@link DpoMetricsListener}.
 */
public class DpoOutputLayerImpl extends SameDiffOutputLayer {

    private volatile Map<String, Double> lastMetrics = Collections.emptyMap();
    private double lastScore;

    public DpoOutputLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Metrics of the last scored batch by TRL name ({@code loss}, {@code rewards/chosen}, ...); empty before. */
    public Map<String, Double> lastMetrics() {
        return lastMetrics;
    }

    private void guard() {
        InputGuard.refuseLabelMask(maskArray, "DpoOutputLayer");
        DpoOutputLayer c = (DpoOutputLayer) layerConf();
        InputGuard.checkShape(sameDiff, INPUT_KEY, input, "DpoOutputLayer",
                c.getDataFormat() == org.deeplearning4j.nn.conf.RNNFormat.NCW ? 2 : 1);
        InputGuard.checkShape(sameDiff, LABELS_KEY, labels, "DpoOutputLayer", 2);
    }

    @Override
    public org.nd4j.common.primitives.Pair<org.deeplearning4j.nn.gradient.Gradient, INDArray> backpropGradient(
            INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        guard();
        return super.backpropGradient(epsilon, workspaceMgr);
    }

    /**
     * The per-sequence log-probs {@code [S]} (float64, detached) of the labels' sequence table, for hidden states
     * {@code input} (this layer's input) and packed {@link DpoLabels}: the frozen reference's pass
     * ({@link FrozenReference}). The labels' reference channel is not read.
     */
    public INDArray sequenceLogps(INDArray input, INDArray labels) {
        setInput(input, LayerWorkspaceMgr.noWorkspaces());
        setLabels(DpoLabels.withReferenceLogps(labels, null));
        guard();
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (sameDiff == null) {
                doInit();
            }
            InferenceSession is = sameDiff.getSessions().get(Thread.currentThread().getId());
            if (is == null) {
                is = new InferenceSession(sameDiff);
                sameDiff.getSessions().put(Thread.currentThread().getId(), is);
            }
            is.setMmgr(new org.nd4j.autodiff.samediff.internal.memory.NoOpMemoryMgr());
            Map<String, INDArray> ph = new HashMap<>();
            ph.put(INPUT_KEY, this.input);
            ph.put(LABELS_KEY, this.labels);
            INDArray out = sameDiff.output(ph, List.of(DpoOutputLayer.LOGPS)).get(DpoOutputLayer.LOGPS)
                    .castTo(DataType.DOUBLE).dup();
            sameDiff.clearPlaceholders(true);
            sameDiff.clearOpInputs();
            return out;
        } finally {
            clear();
            setLabels(null);
        }
    }

    @Override
    public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr workspaceMgr) {
        guard();
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (sameDiff == null) {
                doInit();
            }
        }
        String wsWorking = workspaceMgr.getWorkspaceName(ArrayType.FF_WORKING_MEM);
        String wsOutput = workspaceMgr.getWorkspaceName(ArrayType.ACTIVATIONS);
        DL4JSameDiffMemoryMgr mmgr = new DL4JSameDiffMemoryMgr(wsWorking, wsOutput,
                workspaceMgr.getConfiguration(ArrayType.FF_WORKING_MEM),
                workspaceMgr.getConfiguration(ArrayType.ACTIVATIONS));
        InferenceSession is = sameDiff.getSessions().get(Thread.currentThread().getId());
        if (is == null) {
            is = new InferenceSession(sameDiff);
            sameDiff.getSessions().put(Thread.currentThread().getId(), is);
        }
        is.setMmgr(mmgr);

        Map<String, INDArray> ph = new HashMap<>();
        ph.put(INPUT_KEY, input);
        ph.put(LABELS_KEY, labels);
        List<String> names = new ArrayList<>();
        names.add(outputVar.name());
        names.addAll(List.of(Metric.varNames()));
        Map<String, INDArray> out = sameDiff.output(ph, names);
        double scaled = out.get(outputVar.name()).getDouble(0);
        Map<String, Double> m = new LinkedHashMap<>();
        for (Metric x : Metric.values()) {
            m.put(x.trlName(), out.get(x.varName()).getDouble(0));
        }
        sameDiff.clearPlaceholders(true);
        sameDiff.clearOpInputs();
        lastMetrics = Collections.unmodifiableMap(m);
        lastScore = (scaled + fullNetRegTerm) / input.size(0);
        return lastScore;
    }

    @Override
    public double score() {
        return lastScore;
    }
}
