package org.prefixshare.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.train.ReferenceStore;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32;

/**
 * The reference model of standard DPO for a DL4J network built with {@link DpoOutputLayer}: a frozen copy of the
 * network (its weights when the copy was made), evaluated in inference mode on the same prefix-shared packed rows as
 * training, giving the per-sequence log-probs of a batch's sequence table.
 *
 * <p>Two ways to use it, as TRL offers:
 * <ul>
 *   <li><b>precomputed</b> (the default of standard DPO): {@link #precompute} / {@link #loadOrPrecompute} score every
 *       example once before training and return a {@link ReferenceStore} (keyed by example id and rank, so any
 *       shuffling, packing or resumed cursor finds them; saved as {@code reference_logps.tsv}); give it to the
 *       {@link PreferenceBatchIterator} and every batch carries its references;</li>
 *   <li><b>live</b>: {@link DpoGraphIterator#liveReference} / {@code PreferenceDataSetIterator.liveReference}
 *       evaluate the frozen copy on every batch (no pass up front, one forward more per step).</li>
 * </ul>
 * Make the copy before the first training step. One thread at a time (DL4J networks are not thread-safe).
 */
public final class FrozenReference {

    private final ComputationGraph graph;
    private final MultiLayerNetwork network;
    private final DataType dataType;
    private final String fingerprint;

    private FrozenReference(ComputationGraph graph, MultiLayerNetwork network) {
        this.graph = graph;
        this.network = network;
        Model m = graph != null ? graph : network;
        this.dataType = m.params().dataType();
        outputLayer(); // fails early when there is no DpoOutputLayer
        this.fingerprint = fingerprintOf(graph != null ? graph.getConfiguration().toJson()
                : network.getLayerWiseConfigurations().toJson(), m.params());
    }

    /** A frozen copy of {@code graph} (its current weights; {@code graph} may train on). */
    public static FrozenReference copyOf(ComputationGraph graph) {
        return new FrozenReference(graph.clone(), null);
    }

    /** A frozen copy of {@code network} (its current weights; {@code network} may train on). */
    public static FrozenReference copyOf(MultiLayerNetwork network) {
        return new FrozenReference(null, network.clone());
    }

    /** The network's float type. */
    public DataType dataType() {
        return dataType;
    }

    /** A fingerprint of the frozen configuration and weights (for {@link ReferenceStore}'s file). */
    public String fingerprint() {
        return fingerprint;
    }

    private DpoOutputLayerImpl outputLayer() {
        Layer[] layers = graph != null ? graph.getLayers() : network.getLayers();
        DpoOutputLayerImpl found = null;
        for (Layer l : layers) {
            if (l instanceof DpoOutputLayerImpl d) {
                if (found != null) {
                    throw new IllegalArgumentException("FrozenReference: the network has more than one DpoOutputLayer");
                }
                found = d;
            }
        }
        if (found == null) {
            throw new IllegalArgumentException("FrozenReference: the network has no DpoOutputLayer, so it cannot score "
                    + "sequences");
        }
        return found;
    }

    /**
     * Per-sequence log-probs [S] (float64) of one batch in the graph's format: the four layout arrays
     * {@code token, position, node, subtreeEnd} [B,T] and the packed {@link DpoLabels} [B,8,T].
     */
    public INDArray logps(INDArray[] graphFeatures, INDArray labels) {
        DpoOutputLayerImpl out = outputLayer();
        INDArray hidden;
        if (graph != null) {
            String outName = out.getConfig().getLayerName();
            String inName = graph.getConfiguration().getVertexInputs().get(outName).get(0);
            INDArray[] in = new INDArray[graphFeatures.length];
            for (int i = 0; i < in.length; i++) {
                in[i] = graphFeatures[i].castTo(dataType);
            }
            hidden = graph.feedForward(in, graph.getVertex(inName).getVertexIndex(), false, true).get(inName);
        } else {
            int last = network.getnLayers() - 1;
            INDArray x = LayoutChannels.stack(graphFeatures, dataType);
            List<INDArray> acts = network.feedForwardToLayer(last - 1, x, false);
            hidden = acts.get(acts.size() - 1);
            InputPreProcessor pre = network.getLayerWiseConfigurations().getInputPreProcess(last);
            if (pre != null) {
                hidden = pre.preProcess(hidden, (int) hidden.size(0), LayerWorkspaceMgr.noWorkspaces());
            }
        }
        return out.sequenceLogps(hidden, labels.castTo(dataType));
    }

    /** As {@link #logps(INDArray[], INDArray)} for a batch in the graph's format ({@link DpoGraphIterator}). */
    public INDArray logps(MultiDataSet graphBatch) {
        return logps(graphBatch.getFeatures(), graphBatch.getLabels(0));
    }

    /** Per-sequence log-probs [S] of a layout batch (the {@link ReferenceStore.Scorer} of this model). */
    public INDArray logps(LayoutBatch batch) {
        return logps(DpoGraphIterator.convert(PreferenceBatchIterator.toMultiDataSet(batch), dataType, 0.0));
    }

    /**
     * One pass over every example (unshuffled, {@code pack}'s row length, which must be the training rows' length:
     * a DL4J network keeps the row length of its first minibatch).
     */
    public ReferenceStore precompute(List<TokenizedExample> examples, PackConfig pack) {
        return ReferenceStore.compute((ReferenceStore.Scorer) this::logps, examples, pack);
    }

    /**
     * {@code dir/reference_logps.tsv} when it was written for this frozen model and these examples, else
     * {@link #precompute} and write it.
     */
    public ReferenceStore loadOrPrecompute(Path dir, List<TokenizedExample> examples, PackConfig pack) {
        return ReferenceStore.loadOrCompute(dir, fingerprint + "-" + examplesFingerprint(examples, pack),
                (ReferenceStore.Scorer) this::logps, examples, pack);
    }

    private static String fingerprintOf(String configJson, INDArray params) {
        CRC32 crc = new CRC32();
        crc.update(configJson.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        INDArray flat = params.reshape(-1);
        long n = flat.length();
        long chunk = 1 << 20;
        for (long off = 0; off < n; off += chunk) {
            double[] p = flat.get(NDArrayIndex.interval(off, Math.min(n, off + chunk))).castTo(DataType.DOUBLE)
                    .dup().data().asDouble();
            ByteBuffer b = ByteBuffer.allocate(8 * p.length);
            for (double v : p) {
                b.putDouble(v);
            }
            crc.update(b.array());
        }
        return "dl4j-" + Long.toHexString(crc.getValue()) + "-" + n;
    }

    private static String examplesFingerprint(List<TokenizedExample> examples, PackConfig pack) {
        CRC32 crc = new CRC32();
        ByteBuffer b = ByteBuffer.allocate(16);
        for (TokenizedExample e : examples) {
            int h = Arrays.hashCode(e.prompt());
            for (int[] r : e.responses()) {
                h = 31 * h + Arrays.hashCode(r);
            }
            b.clear();
            b.putLong(e.id()).putInt(h).putInt(e.responseCount());
            crc.update(b.array());
        }
        return Long.toHexString(crc.getValue()) + "-n" + examples.size() + "-T" + pack.packLength();
    }
}
