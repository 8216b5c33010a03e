package org.prefixshare.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.TokenizedExample;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** On resume, metrics.jsonl keeps only the lines up to the checkpoint's step: no step appears twice. */
class MetricsOnResumeTest {

    private static final List<List<TokenizedExample>> DATA = SyntheticTask.split(32, 8, 5);

    private static TrainConfig config(Path dir) {
        TrainConfig d = TrainConfig.defaults(dir);
        return new TrainConfig(d.model().withDataType(DataType.DOUBLE), d.loss(), ReferenceMode.PRECOMPUTED, 1e-3, 1,
                LrSchedule.Shape.COSINE, 0.0, 1.0, 1, 6, 0, 3, 3, 256, 2, true, 9L, dir);
    }

    private static List<Integer> steps(Path dir, boolean eval) throws IOException {
        List<Integer> out = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        for (String l : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            JsonNode n = om.readTree(l);
            if (n.has("eval_loss") == eval) {
                out.add(n.get("step").asInt());
            }
        }
        return out;
    }

    @Test
    void linesPastTheCheckpointAreDroppedOnResume(@TempDir Path dir) throws IOException {
        new DpoTrainer(config(dir), DATA.get(0), DATA.get(1), null).trainUntil(3);
        // what a crash after step 5 leaves: steps 4 and 5 logged, step 6 half written, the checkpoint still at 3
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":4,\"loss\":0.6}\n{\"step\":5,\"loss\":0.5}\n"
                + "{\"step\":6,\"lo", StandardOpenOption.APPEND);
        new DpoTrainer(config(dir), DATA.get(0), DATA.get(1), null).train();
        assertEquals(List.of(1, 2, 3, 4, 5, 6), steps(dir, false));
        assertEquals(List.of(3, 6), steps(dir, true));
    }

    @Test
    void aRunWithoutCheckpointStartsAFreshLog(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1,\"loss\":0.6}\n{\"step\":2,\"loss\":0.5}\n");
        new DpoTrainer(config(dir), DATA.get(0), DATA.get(1), null).trainUntil(2);
        assertEquals(List.of(1, 2), steps(dir, false));
    }
}
