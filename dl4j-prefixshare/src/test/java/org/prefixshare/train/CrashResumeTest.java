package org.prefixshare.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.io.Failpoint;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 at several points of a run with checkpoints, each time in a real child JVM, then resume: the run always
 * resumes from its last complete checkpoint and ends with the same weights as an uninterrupted run (float64,
 * 1e-12), with every step logged once. Kill points: inside a checkpoint write (after the parameters, before the
 * optimiser state); after every file is on disk but before the rename; after the rename but before the older
 * checkpoint is removed; and at a moment chosen from outside, while the run is in its steps.
 */
class CrashResumeTest {

    static final int STEPS = 8;
    static final int CHECKPOINT_EVERY = 2;

    /** The run every process does (the child and the uninterrupted reference alike). */
    static DpoTrainer trainer(Path dir) {
        List<List<TokenizedExample>> data = SyntheticTask.split(24, 6, 11);
        TrainConfig d = TrainConfig.defaults(dir);
        TrainConfig cfg = new TrainConfig(d.model().withDataType(DataType.DOUBLE), d.loss(),
                ReferenceMode.PRECOMPUTED, 5e-3, 1, LrSchedule.Shape.COSINE, 0.01, 1.0, 1, STEPS, 0, 4,
                CHECKPOINT_EVERY, 256, 1, true, 3L, dir);
        return new DpoTrainer(cfg, data.get(0), data.get(1), null);
    }

    /** The child: trains {@code args[0]} to the end (resuming when there is a checkpoint). */
    public static void main(String[] args) {
        trainer(Path.of(args[0])).train();
        System.exit(0);
    }

    private static Process child(Path dir, String failpoint, String name) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-Dorg.bytedeco.javacpp.maxbytes=3G",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        if (failpoint != null) {
            cmd.add("-D" + Failpoint.PROPERTY + "=" + failpoint);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), CrashResumeTest.class.getName(),
                dir.toString()));
        File log = dir.resolveSibling(name + ".log").toFile();
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
    }

    private static int await(Process p, String name, Path dir) throws Exception {
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(name + " did not end in 300 s; its output: "
                    + Files.readString(dir.resolveSibling(name + ".log")));
        }
        return p.exitValue();
    }

    /** Runs a child that a failpoint kills (exit 137); returns the latest checkpoint's step afterwards. */
    private static int killedAt(Path dir, String failpoint) throws Exception {
        String name = failpoint.replaceAll("[^a-z0-9]", "_");
        int code = await(child(dir, failpoint, name), name, dir);
        assertEquals(137, code, "killed by SIGKILL at " + failpoint + ": "
                + Files.readString(dir.resolveSibling(name + ".log")));
        return Checkpoint.latestStep(dir).orElse(0);
    }

    @Test
    void killedAtManyPointsAndResumedItEndsWithTheWeightsOfAnUninterruptedRun(@TempDir Path root) throws Exception {
        Path dir = root.resolve("run");
        // 1. killed inside the write of checkpoint 4, after its parameters: a half-written temporary is left
        assertEquals(2, killedAt(dir, "checkpoint.params-written@2"));
        assertTrue(Files.isDirectory(dir.resolve("checkpoint-4.tmp")), "the half-written checkpoint is left ...");
        assertEquals(2, Checkpoint.latest(dir).orElseThrow().step(), "... and never taken");

        // 2. resumed from 2, killed when checkpoint 4 is complete on disk but not yet renamed
        assertEquals(2, killedAt(dir, "atomic-directory.before-rename@1"));
        assertTrue(Files.isRegularFile(dir.resolve("checkpoint-4.tmp").resolve("trainer.json")));

        // 3. resumed from 2, killed after checkpoint 4 is renamed, before checkpoint 2 is removed: both are there
        assertEquals(4, killedAt(dir, "checkpoint.before-retention@1"));
        assertTrue(Files.isDirectory(dir.resolve("checkpoint-2")) && Files.isDirectory(dir.resolve("checkpoint-4")));

        // 4. resumed from 4, killed from outside (kill -9) as soon as step 5 is logged
        Process p = child(dir, null, "external");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!loggedStep(dir, 5) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(p.isAlive(), "the run was still going when step 5 was logged");
        p.destroyForcibly(); // SIGKILL
        assertEquals(137, await(p, "external", dir));
        assertTrue(Checkpoint.latestStep(dir).orElseThrow() >= 4);

        // 5. resumed, runs to the end
        assertEquals(0, await(child(dir, null, "final"), "final", dir),
                () -> readQuietly(dir.resolveSibling("final.log")));

        Path whole = root.resolve("whole");
        trainer(whole).train();
        Checkpoint a = Checkpoint.latest(whole).orElseThrow();
        Checkpoint b = Checkpoint.latest(dir).orElseThrow();
        assertEquals(STEPS, a.step());
        assertEquals(STEPS, b.step());
        assertClose(a.parameters(), b.parameters(), "parameter");
        assertClose(a.optimiser(), b.optimiser(), "optimiser state");
        assertEquals(trainSteps(whole), trainSteps(dir), "every step logged once, with the same loss");
        assertFalse(Files.exists(dir.resolve("checkpoint-4.tmp")), "crash leftovers are cleaned up");
    }

    private static void assertClose(Map<String, INDArray> expected, Map<String, INDArray> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String k : expected.keySet()) {
            double[] e = expected.get(k).data().asDouble();
            double[] g = actual.get(k).data().asDouble();
            assertEquals(e.length, g.length, k);
            for (int i = 0; i < e.length; i++) {
                assertEquals(e[i], g[i], 1e-12 * Math.max(1, Math.abs(e[i])), what + " " + k + "[" + i + "]");
            }
        }
    }

    private static boolean loggedStep(Path dir, int step) throws IOException {
        Path m = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(m)) {
            return false;
        }
        return Files.readString(m).contains("{\"step\":" + step + ",");
    }

    /** "step loss" of every training line (the loss printed to 1e-12 relative). */
    private static List<String> trainSteps(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        for (String l : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            JsonNode n = om.readTree(l);
            if (n.has("loss")) {
                out.add(n.get("step").asInt() + " " + String.format("%.11e", n.get("loss").asDouble()));
            }
        }
        return out;
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
