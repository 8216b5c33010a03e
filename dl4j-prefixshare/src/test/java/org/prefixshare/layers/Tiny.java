package org.prefixshare.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.pack.PreferenceBatchIterator;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Tiny sizes and batches shared by the tests of this package. */
final class Tiny {

    static final int VOCAB = 13;

    private Tiny() {
    }

    /** Hidden 8, 1 layer, 2 query heads, 1 kv head (GQA), head dim 4, MLP 12, untied, float64. */
    static DecoderConfig config(int layers) {
        return new DecoderConfig(VOCAB, 8, layers, 2, 1, 4, 12, 10000.0, 1e-6, false, DataType.DOUBLE);
    }

    /** A prefix-shared packed batch of 4 random examples (one with 3 responses), 2 per row, with reference logps. */
    static LayoutBatch batch(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TokenizedExample> ex = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ex.add(EquivalenceCheck.randomExample(rnd, 100 + i, VOCAB, 4, 3, i == 1 ? 3 : 2));
        }
        LayoutBatch b = EquivalenceCheck.sharedBatch(ex, 2, 2);
        List<SequenceInfo> seqs = new ArrayList<>();
        for (SequenceInfo s : b.sequences()) {
            seqs.add(s.withRefLogp(-1.3 * s.tokenCount() - 0.1 * s.rank() - 0.01 * s.exampleId()));
        }
        return new LayoutBatch(b.rows(), seqs);
    }

    /** The graph's MultiDataSet of a batch (4 inputs, packed labels). */
    static MultiDataSet data(LayoutBatch b, DataType dt) {
        return DpoGraphIterator.convert(PreferenceBatchIterator.toMultiDataSet(b), dt, 0.0);
    }

    /**
     * The worst relative error of DL4J gradients (keys as in the gradient table, raw: of rows x loss) against the
     * SameDiff decoder's by Hugging Face name; every expected gradient must be matched.
     */
    static double worstGradientError(java.util.Map<String, INDArray> dl4jGrads, java.util.Map<String, String> hfNames,
                                     double rows, java.util.Map<String, INDArray> expected) {
        org.junit.jupiter.api.Assertions.assertEquals(expected.keySet(), new java.util.HashSet<>(hfNames.values()));
        org.junit.jupiter.api.Assertions.assertEquals(expected.size(), dl4jGrads.size());
        double worst = 0;
        for (java.util.Map.Entry<String, INDArray> e : dl4jGrads.entrySet()) {
            INDArray exp = expected.get(hfNames.get(e.getKey()));
            worst = Math.max(worst, maxRelErr(e.getValue().div(rows), exp));
        }
        return worst;
    }

    static double maxRelErr(INDArray a, INDArray b) {
        double scale = Math.max(a.amaxNumber().doubleValue(), b.amaxNumber().doubleValue());
        return scale == 0 ? 0 : a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue()
                / scale;
    }
}
