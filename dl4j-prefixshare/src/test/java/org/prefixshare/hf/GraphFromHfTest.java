package org.prefixshare.hf;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.NoOp;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DecoderGraph;
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.train.ReferenceStore;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A DL4J ComputationGraph built from a Hugging Face model directory (PyTorch-written) scores like the SameDiff
 * decoder loaded from the same directory (float32, 1e-5), and what the DL4J layers cannot express is refused.
 */
class GraphFromHfTest {

    @Test
    void graphFromAModelDirectoryScoresLikeTheDecoder() {
        try (HfModelDirectory dir = HfModelDirectory.open(HfFixtures.dir(HfFixtures.MISTRAL))) {
            DecoderConfig c = dir.config().decoder();
            DecoderModel model = dir.loadModel(DataType.FLOAT, PrefixShareOps.Implementation.AUTO);
            ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, LossConfig.defaults(),
                    new NoOp(), 1, "auto"));
            g.init();
            DecoderGraph.setHfParameters(g, model.parameters());
            HfFixtures.Expected e = HfFixtures.expected(HfFixtures.MISTRAL);
            List<TokenizedExample> ex = new ArrayList<>();
            for (int i = 0; i < e.examples().size(); i++) {
                HfFixtures.Example x = e.examples().get(i);
                if (x.prompt().length + Math.max(x.chosen().length, x.rejected().length) <= c.slidingWindow()) {
                    ex.add(x.tokenized(i));
                }
            }
            PackConfig pack = PackConfig.defaults(64, 2, 0).withShuffle(false).withPrefetch(0);
            ReferenceStore byGraph = FrozenReference.copyOf(g).precompute(ex, pack);
            ReferenceStore byModel = ReferenceStore.compute(model, ex, pack);
            double worst = 0;
            for (TokenizedExample t : ex) {
                for (int r = 0; r < 2; r++) {
                    double a = byGraph.get(t.id(), r);
                    double b = byModel.get(t.id(), r);
                    worst = Math.max(worst, Math.abs(a - b) / Math.abs(b));
                }
            }
            assertTrue(ex.size() >= 2 && worst <= 1e-5, "graph vs decoder from " + HfFixtures.MISTRAL + ": " + worst
                    + " over " + ex.size() + " examples");
        }
    }

    @Test
    void ropeScalingIsRefusedByTheGraphByName() {
        try (HfModelDirectory dir = HfModelDirectory.open(HfFixtures.dir(HfFixtures.LLAMA_BF16_SHARDED))) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> DecoderGraph
                    .configuration(dir.config().decoder(), LossConfig.defaults(), new NoOp(), 1, "auto"));
            assertTrue(x.getMessage().contains("rope_scaling llama3"), x.getMessage());
        }
    }
}
