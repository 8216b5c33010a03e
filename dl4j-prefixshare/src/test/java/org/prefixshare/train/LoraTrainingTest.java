package org.prefixshare.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.model.ArrayCache;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRA DPO on the tiny model: the adapters learn the synthetic task (held-out reward accuracy rises), only the
 * adapters change, and the reference (the base with its adapters off) never does.
 */
class LoraTrainingTest {

    @Test
    void adaptersLearnWhileTheBaseAndTheReferenceStayFixed(@TempDir Path dir) {
        List<List<TokenizedExample>> data = SyntheticTask.split(480, 120, 1);
        TrainConfig defaults = TrainConfig.defaults(dir);
        TrainConfig cfg = new TrainConfig(defaults.model(), defaults.loss(), ReferenceMode.LIVE, 5e-3, 5,
                defaults.schedule(), 0, 1.0, 1, 60, 0, 0, 0, defaults.packLength(), defaults.rowsPerBatch(), true,
                defaults.seed(), dir);
        LoraConfig lora = new LoraConfig(8, 16, 0.05, LoraConfig.parseTargets("all-linear"), false, "tiny");
        DecoderModel.Options options = DecoderModel.Options.lora(lora, LoraAdapters.initial(3), DataType.FLOAT, true);
        DpoTrainer trainer = new DpoTrainer(cfg, WeightSource.random(cfg.seed(), DecoderModel.INIT_STD), "tiny",
                options, data.get(0), data.get(1), null);
        DecoderModel m = trainer.model();
        Map<String, INDArray> baseBefore = copies(m.baseParameters());
        Map<String, INDArray> adaptersBefore = copies(m.parameters());
        LayoutBatch probe;
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(data.get(1),
                PackConfig.defaults(cfg.packLength(), 2, 0).withShuffle(false))) {
            probe = it.nextLayout();
        }
        DecoderModel reference = m.adaptersDisabled();
        INDArray refBefore = reference.logps(probe);
        double before = ((Number) trainer.evaluate().get("eval_rewards/accuracies")).doubleValue();

        long beforeTraining = ArrayCache.mark();
        DpoTrainer.Result r = trainer.train();
        double after = ((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue();
        System.out.printf("LoRA (r 8, all-linear, dropout 0.05, recompute): held-out rewards/accuracies %.3f -> %.3f "
                + "in %d steps, %d trainable of %d parameters%n", before, after, r.steps(),
                m.trainableParameterCount(), m.parameterCount());
        assertTrue(before < 0.7, "adapters start at B = 0: the policy is its reference, got " + before);
        assertTrue(after >= 0.85, "held-out rewards/accuracies after LoRA training: " + after);
        assertEquals(baseBefore, m.baseParameters(), "the base is frozen");
        assertEquals(refBefore, reference.logps(probe), "the reference never changes");
        assertTrue(!adaptersBefore.equals(m.parameters()), "the adapters trained");
        assertEquals(LoraAdapters.parameterCount(cfg.model(), lora), m.trainableParameterCount());
        assertEquals(0, ArrayCache.outstandingBytes(beforeTraining),
                "every step handed its arrays back (none left for the GC)");
    }

    private static Map<String, INDArray> copies(Map<String, INDArray> m) {
        Map<String, INDArray> c = new LinkedHashMap<>();
        m.forEach((k, v) -> c.put(k, v.dup()));
        return c;
    }
}
