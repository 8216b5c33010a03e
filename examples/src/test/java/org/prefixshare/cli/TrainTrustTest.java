package org.prefixshare.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.train.Checkpoint;
import org.prefixshare.train.NonFiniteGuard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code prefixshare train} on what goes wrong: a diverging run, a document longer than the old default row. */
class TrainTrustTest {

    @TempDir
    Path dir;

    @Test
    void aHugeLearningRateSkipsStepsThenExits3AndEveryCheckpointIsFinite() throws IOException {
        Path out = dir.resolve("run");
        CliRun r = CliRun.of("train", "--lr", "1e38", "--steps", "20", "--checkpoint-every", "5", "--examples", "40",
                "--rows", "1", "--eval-every", "0", "--max-skipped-steps", "4", "--output", out.toString());
        assertEquals(Failures.TRAINING_HALTED, r.code(), r.out() + r.err());
        String[] err = r.err().strip().split("\n");
        assertEquals(1, err.length, r.err());
        assertTrue(err[0].contains("training stopped at step"), r.err());
        assertTrue(err[0].contains("4 steps in a row"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertTrue(metrics.get(metrics.size() - 1).contains("\"train/skipped_steps\":4"), metrics.toString());
        try (Stream<Path> s = Files.list(out)) {
            for (Path c : s.filter(p -> p.getFileName().toString().startsWith("checkpoint-")).toList()) {
                Checkpoint cp = Checkpoint.read(c);
                assertNull(NonFiniteGuard.firstNonFinite(cp.parameters()), c + " holds a non-finite parameter");
                assertNull(NonFiniteGuard.firstNonFinite(cp.optimiser()), c + " holds a non-finite optimiser value");
            }
        }
    }

    @Test
    void theDefaultPackLengthFitsEveryPairThatMaxLengthAdmits() throws IOException {
        // a prompt of 100 bytes and two answers of 400: 901 tokens as one document, more than the old 512 default
        Path f = dir.resolve("long.jsonl");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            b.append("{\"prompt\":\"").append(String.valueOf((char) ('a' + i)).repeat(100)).append("\",\"chosen\":\"")
                    .append("x".repeat(400)).append("\",\"rejected\":\"").append("y".repeat(400)).append("\"}\n");
        }
        Files.writeString(f, b);
        CliRun r = CliRun.of("train", "--input", f.toString(), "--steps", "1", "--rows", "1", "--eval-fraction", "0",
                "--output", dir.resolve("run").toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertFalse(r.out().contains("dropped"), r.out());
        assertTrue(r.out().contains("pack length 960"), r.out());
        assertTrue(r.out().contains("training on 6 examples"), r.out());
        CliRun help = CliRun.of("train", "--help");
        assertTrue(help.out().replaceAll("\\s+", " ").contains("2 x max-length - prompt"), help.out());
    }
}
