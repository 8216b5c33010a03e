package org.prefixshare.hf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.hf.safetensors.SafetensorsCheckpoint;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.loss.LossType;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.model.lora.LoraTarget;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.train.DpoObjective;
import org.prefixshare.train.ReferenceStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRA against an independent implementation: PEFT adapters PyTorch wrote ({@code python/torchref/lora.py}) on the
 * bf16 Llama fixture, scored there with the adapter applied (and disabled, for the reference), the DPO loss with the
 * gradients of the first layer's A and B, and merged weights. Our side reads the same PEFT files onto a bfloat16
 * frozen base.
 */
class PeftParityTest {

    private static final double TOL = 1e-4;
    private static final PackConfig ONE_BATCH = PackConfig.defaults(1024, 4, 0).withShuffle(false);

    private static DecoderModel load(String adapterFixture, DataType baseType, boolean recompute) {
        try (HfModelDirectory base = HfModelDirectory.open(HfFixtures.dir(HfFixtures.LLAMA_BF16_SHARDED))) {
            DecoderConfig c = base.config().decoder();
            PeftAdapterFiles.Adapter a = PeftAdapterFiles.read(HfFixtures.dir(adapterFixture), c);
            return DecoderModel.create(c, base.weights(c), PrefixShareOps.Implementation.AUTO,
                    DecoderModel.Options.lora(a.config(), a.weights(), baseType, recompute));
        }
    }

    private static List<TokenizedExample> examples(HfFixtures.Expected e) {
        List<TokenizedExample> out = new ArrayList<>();
        for (int i = 0; i < e.examples().size(); i++) {
            out.add(e.examples().get(i).tokenized(i));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LORA, HfFixtures.LORA_RSLORA})
    void adaptedLogProbsEqualPyTorchsAndDisabledOnesTheBase(String fixture) {
        HfFixtures.Expected e = HfFixtures.expected(fixture);
        DecoderModel m = load(fixture, DataType.BFLOAT16, false);
        assertEquals(e.loraScaling(), m.options().lora().scale(), 1e-12);
        ReferenceStore ours = ReferenceStore.compute(m, examples(e), ONE_BATCH);
        ReferenceStore disabled = ReferenceStore.compute(m.adaptersDisabled(), examples(e), ONE_BATCH);
        double worst = 0;
        double worstRef = 0;
        for (int i = 0; i < e.examples().size(); i++) {
            HfFixtures.Example x = e.examples().get(i);
            worst = Math.max(worst, Math.max(rel(ours.get(i, 0), x.chosenLogps()),
                    rel(ours.get(i, 1), x.rejectedLogps())));
            worstRef = Math.max(worstRef, Math.max(rel(disabled.get(i, 0), e.dpo().refChosen()[i]),
                    rel(disabled.get(i, 1), e.dpo().refRejected()[i])));
        }
        assertTrue(worst <= TOL, fixture + ": adapted log-probs off by " + worst);
        assertTrue(worstRef <= TOL, fixture + ": adapters-disabled log-probs off by " + worstRef);
    }

    /** TRL's sigmoid loss with the adapters-disabled reference, and the gradients of layer 0's A and B. */
    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LORA, HfFixtures.LORA_RSLORA})
    void dpoLossAndAdapterGradientsEqualAutograd(String fixture) {
        HfFixtures.Expected e = HfFixtures.expected(fixture);
        HfFixtures.Dpo dpo = e.dpo();
        for (boolean recompute : new boolean[]{false, true}) {
            DecoderModel m = load(fixture, DataType.BFLOAT16, recompute);
            DpoObjective objective = new DpoObjective(m, LossConfig.of(LossType.SIGMOID).withBeta(dpo.beta()));
            ReferenceLogps refs = (id, rank) -> rank == 0 ? dpo.refChosen()[(int) id] : dpo.refRejected()[(int) id];
            LayoutBatch batch;
            try (PreferenceBatchIterator it = new PreferenceBatchIterator(examples(e), ONE_BATCH, refs)) {
                batch = it.nextLayout();
                assertFalse(it.hasNext());
            }
            DecoderModel.LossAndGradients lg = m.lossAndGradients(batch, objective.feeds(batch, null, 0));
            assertEquals(dpo.loss(), lg.loss(), Math.abs(dpo.loss()) * TOL, fixture + " loss");
            assertGradient(fixture, lg.gradients().get(dpo.gradParam()), dpo.gradShape(), dpo.grad(),
                    dpo.gradParam());
            for (HfFixtures.ExtraGrad x : dpo.extraGrads()) {
                assertGradient(fixture, lg.gradients().get(x.param()), x.shape(), x.grad(), x.param());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {HfFixtures.LORA, HfFixtures.LORA_RSLORA})
    void mergedWeightsEqualPeftsMerge(String fixture) {
        HfFixtures.Expected e = HfFixtures.expected(fixture);
        DecoderModel m = load(fixture, DataType.FLOAT, false);
        LoraConfig lora = m.options().lora();
        for (HfFixtures.Merged want : e.merged()) {
            int layer = Integer.parseInt(want.name().split("\\.")[2]);
            LoraTarget t = java.util.Arrays.stream(LoraTarget.values())
                    .filter(x -> want.name().endsWith(x.module() + ".weight")).findFirst().orElseThrow();
            INDArray merged = LoraAdapters.merged(m.baseParameters().get(want.name()),
                    m.parameters().get(LoraAdapters.aName(t, layer)), m.parameters().get(LoraAdapters.bName(t, layer)),
                    lora.scale(), DataType.FLOAT);
            assertArrayEquals(want.shape(), merged.shape());
            double[] got = merged.castTo(DataType.DOUBLE).reshape(merged.length()).toDoubleVector();
            double max = 0;
            double diff = 0;
            for (int i = 0; i < got.length; i++) {
                max = Math.max(max, Math.abs(want.values()[i]));
                diff = Math.max(diff, Math.abs(got[i] - want.values()[i]));
            }
            assertTrue(diff <= 1e-6 * max, fixture + " " + want.name() + ": merged off by " + diff + " of " + max);
        }
    }

    /** What we write is what we read, bit for bit, and PEFT's layout and names are kept. */
    @Test
    void adaptersRoundTripThroughPeftFilesBitForBit(@TempDir Path tmp) {
        DecoderModel m = load(HfFixtures.LORA_RSLORA, DataType.BFLOAT16, false);
        Path out = tmp.resolve("adapter");
        PeftAdapterFiles.write(out, m.options().lora(), m.parameters());
        assertTrue(Files.isRegularFile(out.resolve("adapter_config.json")));
        try (SafetensorsCheckpoint back = SafetensorsCheckpoint.open(out, "adapter_model");
             SafetensorsCheckpoint original = SafetensorsCheckpoint.open(HfFixtures.dir(HfFixtures.LORA_RSLORA),
                     "adapter_model")) {
            assertEquals(original.tensors().keySet(), back.tensors().keySet());
            for (String n : original.tensors().keySet()) {
                assertEquals(original.read(n), back.read(n), n);
            }
        }
        LoraConfig again = LoraConfig.read(out.resolve("adapter_config.json"));
        assertEquals(m.options().lora().withBaseModel(""), again.withBaseModel(""));
    }

    @Test
    void adaptersThatDoNotFitTheModelAreRefusedByName(@TempDir Path tmp) throws Exception {
        DecoderModel m = load(HfFixtures.LORA, DataType.BFLOAT16, false);
        Map<String, INDArray> params = new java.util.LinkedHashMap<>(m.parameters());
        String first = params.keySet().iterator().next();
        params.remove(first);
        Path out = tmp.resolve("short");
        PeftAdapterFiles.write(out, m.options().lora(), params);
        DecoderConfig c = m.config();
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                () -> PeftAdapterFiles.read(out, c));
        assertTrue(x.getMessage().contains(first) && x.getMessage().contains("missing"), x.getMessage());
        Path dora = tmp.resolve("dora");
        Files.createDirectories(dora);
        Files.writeString(dora.resolve("adapter_config.json"), Files.readString(
                HfFixtures.dir(HfFixtures.LORA).resolve("adapter_config.json")).replace("\"use_dora\": false",
                "\"use_dora\": true"));
        x = assertThrows(IllegalArgumentException.class, () -> PeftAdapterFiles.read(dora, c));
        assertTrue(x.getMessage().contains("use_dora") && x.getMessage().contains("DoRA"), x.getMessage());
    }

    private static void assertGradient(String fixture, INDArray g, long[] shape, double[] want, String name) {
        assertArrayEquals(shape, g.shape(), name);
        double[] ours = g.castTo(DataType.DOUBLE).reshape(g.length()).toDoubleVector();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < ours.length; i++) {
            diff += (ours[i] - want[i]) * (ours[i] - want[i]);
            norm += want[i] * want[i];
        }
        assertTrue(norm > 0, name + ": the fixture's gradient is not zero");
        assertTrue(Math.sqrt(diff / norm) <= TOL, fixture + ": gradient of " + name + " off by "
                + Math.sqrt(diff / norm));
    }

    private static double rel(double got, double want) {
        return Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);
    }
}
