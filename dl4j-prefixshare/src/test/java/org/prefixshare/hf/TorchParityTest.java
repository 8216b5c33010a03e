package org.prefixshare.hf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.hf.safetensors.SafetensorsCheckpoint;
import org.prefixshare.hf.safetensors.SafetensorsDtype;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.loss.LossType;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.train.DpoObjective;
import org.prefixshare.train.ReferenceStore;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our model math against an independent implementation: checkpoints written by PyTorch (a reference of Hugging
 * Face's Llama / Mistral / Qwen2 forward, {@code python/torchref}), scored by it in float32 after upcasting, as HF
 * does on a CPU. Our side reads the same directories and computes through the prefix-shared packed forward.
 */
class TorchParityTest {

    private static final double TOL = 1e-4;
    private static final PackConfig ONE_BATCH = PackConfig.defaults(1024, 4, 0).withShuffle(false);

    private static DecoderModel load(String fixture) {
        try (HfModelDirectory dir = HfModelDirectory.open(HfFixtures.dir(fixture))) {
            return dir.loadModel(DataType.FLOAT, PrefixShareOps.Implementation.AUTO);
        }
    }

    private static List<TokenizedExample> examples(HfFixtures.Expected e, int window) {
        List<TokenizedExample> out = new ArrayList<>();
        for (int i = 0; i < e.examples().size(); i++) {
            HfFixtures.Example x = e.examples().get(i);
            int longest = x.prompt().length + Math.max(x.chosen().length, x.rejected().length);
            if (window == 0 || longest <= window) {
                out.add(x.tokenized(i));
            }
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LLAMA_BF16_SHARDED, HfFixtures.QWEN2_TIED, HfFixtures.MISTRAL})
    void logProbsEqualPyTorchs(String fixture) {
        HfFixtures.Expected e = HfFixtures.expected(fixture);
        DecoderModel m = load(fixture);
        List<TokenizedExample> ex = examples(e, m.config().slidingWindow());
        assertTrue(ex.size() >= 2, fixture + ": too few examples within the window to compare");
        ReferenceStore ours = ReferenceStore.compute(m, ex, ONE_BATCH);
        double worst = 0;
        for (TokenizedExample t : ex) {
            HfFixtures.Example x = e.examples().get((int) t.id());
            worst = Math.max(worst, rel(ours.get(t.id(), 0), x.chosenLogps()));
            worst = Math.max(worst, rel(ours.get(t.id(), 1), x.rejectedLogps()));
        }
        assertTrue(worst <= TOL, fixture + ": worst relative error " + worst + " over " + ex.size() + " examples");
    }

    @Test
    void sequencesLongerThanTheSlidingWindowAreRefused() {
        HfFixtures.Expected e = HfFixtures.expected(HfFixtures.MISTRAL);
        DecoderModel m = load(HfFixtures.MISTRAL);
        int window = m.config().slidingWindow();
        assertTrue(window > 0);
        List<TokenizedExample> beyond = new ArrayList<>(examples(e, 0));
        beyond.removeAll(examples(e, window));
        assertFalse(beyond.isEmpty(), "the fixture has examples longer than its window");
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                () -> ReferenceStore.compute(m, beyond, ONE_BATCH));
        assertTrue(x.getMessage().contains("sliding_window") && x.getMessage().contains(String.valueOf(window)),
                x.getMessage());
    }

    /** TRL's sigmoid loss on the 7 examples with the fixture's reference log-probs, and d loss / d q_proj[0]. */
    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LLAMA_BF16_SHARDED, HfFixtures.QWEN2_TIED})
    void dpoLossAndGradientEqualAutograd(String fixture) {
        HfFixtures.Expected e = HfFixtures.expected(fixture);
        HfFixtures.Dpo dpo = e.dpo();
        DecoderModel m = load(fixture);
        DpoObjective objective = new DpoObjective(m, LossConfig.of(LossType.SIGMOID).withBeta(dpo.beta()));
        ReferenceLogps refs = (id, rank) -> rank == 0 ? dpo.refChosen()[(int) id] : dpo.refRejected()[(int) id];
        LayoutBatch batch;
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(examples(e, 0), ONE_BATCH, refs)) {
            batch = it.nextLayout();
            assertFalse(it.hasNext(), "all examples in one batch, so the loss is the mean over all pairs");
        }
        DecoderModel.LossAndGradients lg = m.lossAndGradients(batch, objective.feeds(batch, null, 0));
        assertEquals(dpo.loss(), lg.loss(), Math.abs(dpo.loss()) * TOL, fixture + " loss");
        INDArray g = lg.gradients().get(dpo.gradParam());
        assertArrayEquals(dpo.gradShape(), g.shape());
        double[] ours = g.castTo(DataType.DOUBLE).reshape(g.length()).toDoubleVector();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < ours.length; i++) {
            diff += (ours[i] - dpo.grad()[i]) * (ours[i] - dpo.grad()[i]);
            norm += dpo.grad()[i] * dpo.grad()[i];
        }
        assertTrue(norm > 0, "the fixture's gradient is not zero");
        double relNorm = Math.sqrt(diff / norm);
        assertTrue(relNorm <= TOL, fixture + ": gradient of " + dpo.gradParam() + " off by " + relNorm
                + " (norm-wise relative)");
    }

    @Test
    void llamaAttentionBiasIsRefusedByName() {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                () -> HfModelDirectory.open(HfFixtures.dir(HfFixtures.LLAMA_LINEAR)));
        assertTrue(x.getMessage().contains("config.json") && x.getMessage().contains("attention_bias"),
                x.getMessage());
    }

    /** What we write reads back with the same names, shapes, dtypes and bits (bf16 upcast to float32 is exact). */
    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LLAMA_BF16_SHARDED, HfFixtures.QWEN2_TIED})
    void exportedDirectoryHoldsTheSameTensors(String fixture, @TempDir Path tmp) {
        Path out = tmp.resolve("export");
        try (HfModelDirectory src = HfModelDirectory.open(HfFixtures.dir(fixture))) {
            DecoderModel m = src.loadModel(DataType.FLOAT, PrefixShareOps.Implementation.AUTO);
            SafetensorsDtype dtype = HfModelWriter.dtypeOf(src.config().torchDtype());
            new HfModelWriter(dtype, 200_000).write(out, src.config(), m.config().parameterShapes(),
                    m.parameters()::get, src.path(), false);
            try (SafetensorsCheckpoint back = SafetensorsCheckpoint.open(out);
                 HfModelDirectory again = HfModelDirectory.open(out)) {
                assertEquals(m.config().parameterShapes().keySet(), back.tensors().keySet());
                for (String name : back.tensors().keySet()) {
                    assertEquals(dtype, back.tensors().get(name).dtype(), name);
                    assertEquals(src.checkpoint().read(name), back.read(name), name);
                }
                assertEquals(src.config().decoder(), again.config().decoder());
            }
        }
    }

    private static double rel(double got, double want) {
        return Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);
    }
}
