package org.prefixshare.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.loss.LossConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reference modes agree; a run resumed from a checkpoint continues like an uninterrupted one. float64. */
class TrainerStateTest {

    private static final List<List<TokenizedExample>> DATA = SyntheticTask.split(48, 12, 5);

    private static TrainConfig config(Path dir, ReferenceMode mode, int steps, int checkpointEvery) {
        TrainConfig d = TrainConfig.defaults(dir);
        return new TrainConfig(d.model().withDataType(DataType.DOUBLE), d.loss(), mode, 5e-3, 1,
                LrSchedule.Shape.COSINE, 0.01, 1.0, 2, steps, 0, 0, checkpointEvery, 256, 2, true, 9L, dir);
    }

    @Test
    void precomputedAndLiveReferenceGiveTheSameLoss(@TempDir Path a, @TempDir Path b) throws IOException {
        new DpoTrainer(config(a, ReferenceMode.PRECOMPUTED, 3, 0), DATA.get(0), DATA.get(1), null).train();
        new DpoTrainer(config(b, ReferenceMode.LIVE, 3, 0), DATA.get(0), DATA.get(1), null).train();
        List<Map<String, Object>> pa = lines(a);
        List<Map<String, Object>> pb = lines(b);
        assertEquals(pa.size(), pb.size());
        for (int i = 0; i < pa.size(); i++) {
            for (String key : List.of("loss", "rewards/margins", "eval_loss", "eval_rewards/margins")) {
                if (pa.get(i).containsKey(key)) {
                    double x = ((Number) pa.get(i).get(key)).doubleValue();
                    double y = ((Number) pb.get(i).get(key)).doubleValue();
                    assertEquals(x, y, 1e-9 * Math.max(1, Math.abs(x)), key + " at line " + i);
                }
            }
        }
        assertTrue(Files.isRegularFile(a.resolve(ReferenceStore.FILE_NAME)), "precomputed log-probs are stored");
    }

    @Test
    void resumeFromCheckpointContinuesIdentically(@TempDir Path whole, @TempDir Path split) throws IOException {
        new DpoTrainer(config(whole, ReferenceMode.PRECOMPUTED, 6, 0), DATA.get(0), DATA.get(1), null).train();
        // interrupted after step 3 (a checkpoint is written there) ...
        new DpoTrainer(config(split, ReferenceMode.PRECOMPUTED, 6, 0), DATA.get(0), DATA.get(1), null).trainUntil(3);
        // ... and a new trainer over the same directory resumes at step 3 (reusing the stored reference log-probs)
        DpoTrainer.Result r = new DpoTrainer(config(split, ReferenceMode.PRECOMPUTED, 6, 0), DATA.get(0),
                DATA.get(1), null).train();
        assertEquals(6, r.steps());
        List<Double> lossWhole = trainLosses(whole);
        List<Double> lossSplit = trainLosses(split);
        assertEquals(6, lossWhole.size());
        assertEquals(lossWhole.size(), lossSplit.size());
        for (int i = 0; i < lossWhole.size(); i++) {
            assertEquals(lossWhole.get(i), lossSplit.get(i), 1e-12 * Math.max(1, Math.abs(lossWhole.get(i))),
                    "loss at step " + (i + 1));
        }
    }

    @Test
    void referenceFreeModeRejectsALossThatNeedsAReference(@TempDir Path dir) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> config(dir, ReferenceMode.NONE, 1, 0));
        assertTrue(e.getMessage().contains("reference"), e.getMessage());
        TrainConfig d = TrainConfig.defaults(dir);
        assertTrue(new TrainConfig(d.model(), LossConfig.of(org.prefixshare.loss.LossType.SIMPO), ReferenceMode.NONE,
                1e-3, 0, LrSchedule.Shape.CONSTANT, 0, 0, 1, 1, 0, 0, 0, 256, 1, true, 1, dir) != null);
    }

    private static List<Map<String, Object>> lines(Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Map<String, Object>> out = new ArrayList<>();
        for (String l : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = json.readValue(l, Map.class);
            out.add(m);
        }
        return out;
    }

    private static List<Double> trainLosses(Path dir) throws IOException {
        List<Double> l = new ArrayList<>();
        for (Map<String, Object> m : lines(dir)) {
            if (m.containsKey("loss")) {
                l.add(((Number) m.get("loss")).doubleValue());
            }
        }
        return l;
    }
}
