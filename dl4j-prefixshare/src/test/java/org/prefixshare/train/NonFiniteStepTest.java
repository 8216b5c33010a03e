package org.prefixshare.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.pack.IteratorState;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A step whose loss or gradient norm is not finite never reaches the weights or the optimiser state (like PyTorch's
 * GradScaler skip); too many in a row stop the run naming the step and what was non-finite; a checkpoint never holds
 * a non-finite value and the last good one is kept; a loss that grows past 100x its first value is warned about once.
 */
class NonFiniteStepTest {

    private static final List<List<TokenizedExample>> DATA = SyntheticTask.split(48, 12, 5);

    private static TrainConfig config(Path dir, double lr, int steps, int checkpointEvery, DataType type) {
        TrainConfig d = TrainConfig.defaults(dir);
        return new TrainConfig(d.model().withDataType(type), d.loss(), ReferenceMode.PRECOMPUTED, lr, 1,
                LrSchedule.Shape.CONSTANT, 0.0, 1.0, 1, steps, 0, 0, checkpointEvery, 256, 2, true, 9L, dir);
    }

    private static Map<String, INDArray> copy(Map<String, INDArray> m) {
        Map<String, INDArray> c = new LinkedHashMap<>();
        m.forEach((k, v) -> c.put(k, v.dup()));
        return c;
    }

    private static void assertSame(Map<String, INDArray> expected, Map<String, INDArray> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String k : expected.keySet()) {
            // NaN == NaN for INDArray.equals? compare element bits through doubles instead
            double[] e = expected.get(k).dup().castTo(DataType.DOUBLE).data().asDouble();
            double[] a = actual.get(k).dup().castTo(DataType.DOUBLE).data().asDouble();
            for (int i = 0; i < e.length; i++) {
                assertEquals(Double.doubleToLongBits(e[i]), Double.doubleToLongBits(a[i]),
                        what + " " + k + "[" + i + "] changed by a skipped step");
            }
        }
    }

    private static List<JsonNode> metrics(Path dir) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        for (String l : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            out.add(om.readTree(l));
        }
        return out;
    }

    @Test
    void nonFiniteStepsLeaveWeightsAndOptimiserAloneThenStopTheRun(@TempDir Path dir) throws IOException {
        DpoTrainer t = new DpoTrainer(config(dir, 1e-3, 20, 0, DataType.DOUBLE), DATA.get(0), DATA.get(1), null)
                .maxSkippedSteps(3);
        // one NaN weight: every forward gives a NaN loss from now on
        t.model().parameters().get("model.norm.weight").putScalar(0, Double.NaN);
        Map<String, INDArray> params = copy(t.model().parameters());
        Map<String, INDArray> state = t.optimiser().snapshot();
        TrainingHaltedException e = assertThrows(TrainingHaltedException.class, t::train);
        assertEquals(3, e.step(), e.getMessage());
        assertTrue(e.getMessage().contains("step 3"), e.getMessage());
        assertTrue(e.getMessage().contains("loss"), e.getMessage());
        assertTrue(e.getMessage().contains("3 steps in a row"), e.getMessage());
        assertSame(params, t.model().parameters(), "parameter");
        assertSame(state, t.optimiser().snapshot(), "optimiser state");
        List<JsonNode> lines = metrics(dir);
        assertEquals(3, lines.size(), lines.toString());
        for (int i = 0; i < 3; i++) {
            assertEquals(i + 1, lines.get(i).get("train/skipped_steps").asInt(), lines.get(i).toString());
        }
        assertFalse(Files.exists(dir.resolve("checkpoint-3")), "no checkpoint of a halted run");
    }

    @Test
    void aSkippedStepIsCountedAndTrainingGoesOnWhenTheNextStepIsFinite(@TempDir Path dir) throws IOException {
        TrainConfig cfg = config(dir, 1e-3, 8, 0, DataType.DOUBLE);
        new DpoTrainer(cfg, DATA.get(0), DATA.get(1), null); // stores the reference log-probs
        // an infinite reference log-prob for a few chosen responses (their log-ratio is -infinity, so the loss of a
        // batch holding one is infinite): only the steps whose batches hold one of them are non-finite
        Path refs = dir.resolve(ReferenceStore.FILE_NAME);
        List<String> lines = new ArrayList<>(Files.readAllLines(refs));
        for (int i = 1; i < lines.size(); i++) {
            String[] f = lines.get(i).split("\t");
            if (Long.parseLong(f[0]) % 16 == 3 && f[1].equals("0")) {
                lines.set(i, f[0] + "\t" + f[1] + "\tInfinity");
            }
        }
        Files.write(refs, lines);
        ByteArrayOutputStream term = new ByteArrayOutputStream();
        DpoTrainer.Result r = new DpoTrainer(cfg, DATA.get(0), DATA.get(1),
                new PrintStream(term, true, StandardCharsets.UTF_8)).train();
        assertEquals(8, r.steps());
        List<JsonNode> m = metrics(dir);
        int skipped = 0;
        for (JsonNode line : m) {
            if (!line.has("loss")) {
                continue;
            }
            boolean finite = line.get("loss").isNumber();
            if (!finite) {
                skipped++;
            }
            assertEquals(skipped, line.get("train/skipped_steps").asInt(), line.toString());
        }
        assertTrue(skipped >= 1 && skipped < 8, "some steps skipped, not all: " + skipped);
        String printed = term.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("skipped " + skipped), printed);
        Checkpoint last = Checkpoint.latest(dir).orElseThrow();
        assertEquals(8, last.step());
        assertEquals(null, NonFiniteGuard.firstNonFinite(last.parameters()));
    }

    @Test
    void aCheckpointWithANonFiniteValueIsNeverWrittenAndTheLastGoodOneIsKept(@TempDir Path dir) {
        DpoTrainer t = new DpoTrainer(config(dir, 1e-3, 6, 2, DataType.DOUBLE), DATA.get(0), DATA.get(1), null);
        t.trainUntil(2);
        assertTrue(Files.isDirectory(dir.resolve("checkpoint-2")));
        // weights gone bad in a way no loss saw (the guard keeps non-finite updates out, so this needs a poke)
        t.model().parameters().values().iterator().next().putScalar(0, Double.NaN);
        TrainingHaltedException e = assertThrows(TrainingHaltedException.class,
                () -> t.checkpoint(4, new IteratorState(9L, 0, 1, 0, 2, true)));
        assertEquals(4, e.step());
        assertTrue(e.getMessage().contains("checkpoint 4 was not written"), e.getMessage());
        assertTrue(e.getMessage().contains("checkpoint-2 is kept"), e.getMessage());
        assertTrue(Files.isDirectory(dir.resolve("checkpoint-2")), "the last good checkpoint is kept");
        assertFalse(Files.exists(dir.resolve("checkpoint-4")));
        assertFalse(Files.exists(dir.resolve("checkpoint-4.tmp")));
        assertEquals(2, Checkpoint.latest(dir).orElseThrow().step());
    }

    @Test
    void divergenceIsWarnedAboutOnce() {
        NonFiniteGuard g = new NonFiniteGuard(10);
        assertEquals(null, g.applied(1, 0.69));
        assertEquals(null, g.applied(2, 50.0));
        String w = g.applied(3, 70.0);
        assertTrue(w != null && w.contains("step 3") && w.contains("100"), w);
        assertEquals(null, g.applied(4, 7e9), "once");
    }

    @Test
    void aDivergingRunPrintsTheWarningOnItsTerminal(@TempDir Path dir) {
        ByteArrayOutputStream term = new ByteArrayOutputStream();
        DpoTrainer t = new DpoTrainer(config(dir, 1.0, 12, 0, DataType.DOUBLE), DATA.get(0), DATA.get(1),
                new PrintStream(term, true, StandardCharsets.UTF_8));
        try {
            t.train();
        } catch (TrainingHaltedException ignored) {
            // lr 1 may also end in non-finite steps; the warning comes first
        }
        String printed = term.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("100x its first value"), printed);
        assertEquals(printed.indexOf("100x its first value"), printed.lastIndexOf("100x its first value"), printed);
    }
}
