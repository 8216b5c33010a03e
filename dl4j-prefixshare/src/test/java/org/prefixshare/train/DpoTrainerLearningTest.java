package org.prefixshare.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.data.TokenizedExample;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tiny model learns the synthetic preference task: held-out rewards/accuracies from ~0.5 to >= 0.9. */
class DpoTrainerLearningTest {

    @Test
    void heldOutRewardAccuracyRisesAboveNinetyPercent(@TempDir Path dir) {
        List<List<TokenizedExample>> data = SyntheticTask.split(600, 120, 1);
        List<TokenizedExample> train = data.get(0);
        List<TokenizedExample> eval = data.get(1);
        TrainConfig cfg = TrainConfig.defaults(dir);
        DpoTrainer trainer = new DpoTrainer(cfg, train, eval, System.out);
        double before = ((Number) trainer.evaluate().get("eval_rewards/accuracies")).doubleValue();
        DpoTrainer.Result r = trainer.train();
        double after = ((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue();
        System.out.printf("held-out rewards/accuracies %.3f -> %.3f in %d steps (%.1f samples/s)%n", before, after,
                r.steps(), r.trainSamplesPerSecond());
        assertTrue(before < 0.7, "an untrained policy equals its reference: accuracy ~0 (ties), got " + before);
        assertTrue(after >= 0.9, "held-out rewards/accuracies after training: " + after);
    }
}
