package org.prefixshare.bench.training;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.workload.SyntheticWorkload;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.pack.ReferenceLogps;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A worker JVM serving one mode for two workloads in a row, against the same workloads run in this JVM. */
class WorkerProcessTest {

    private static final DecoderConfig TINY = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false,
            DataType.FLOAT);

    @Test
    void aWorkerServesWorkloadsInTurnWithTheResultsOfFreshRuns() throws Exception {
        List<List<TokenizedExample>> first = steps("HH-RLHF", 1);
        List<List<TokenizedExample>> second = steps("TLDR", 2);
        try (WorkerProcess worker = WorkerProcess.start(TrainingMode.D, 1)) {
            for (List<List<TokenizedExample>> w : List.of(first, second)) {
                ModeSession session = worker.prepare(w, 1, HfConfig.of(TINY).toJson(), 256, 5);
                session.rewarm();
                double[] ms = {session.step(0), session.step(1)};
                ModeResult r = session.finish();
                assertTrue(ms[0] > 0 && ms[1] > 0);
                assertTrue(r.isolated() && r.steps() == 2 && r.carried_mb() >= 0, r.toString());
                assertTrue(r.vm_hwm_mb() > 0 && r.offheap_peak_mb() > 0, r.toString());
                // Same steps from the same initial state as a run of its own, whatever the worker ran before.
                ModeResult here = ModeRunner.run(w, 1, TrainingMode.D, TINY, 256, 5, null);
                assertEquals(here.first_loss(), r.first_loss(), 1e-5 * Math.abs(here.first_loss()));
                assertEquals(here.last_loss(), r.last_loss(), 1e-5 * Math.abs(here.last_loss()));
            }
        }
    }

    @Test
    void aWorkerTrainsLoraAdaptersAsThisJvmDoes() throws Exception {
        List<List<TokenizedExample>> w = steps("HH-RLHF", 1);
        LoraConfig lora = TrainingBenchmark.benchLora(2, "q_proj,down_proj");
        try (WorkerProcess worker = WorkerProcess.start(TrainingMode.D, 1)) {
            ModeSession session = worker.prepare(w, 1, HfConfig.of(TINY).toJson(), 256, 5, null, ReferenceLogps.NONE,
                    lora);
            session.step(0);
            session.step(1);
            ModeResult r = session.finish();
            // the adapters alone: q_proj [r, 32] + [32, r], down_proj [r, 64] + [32, r]
            assertEquals(2L * (32 + 32) + 2L * (64 + 32), r.trainable_params(), r.toString());
            try (ModeRunner here = ModeRunner.prepare(w, 1, TrainingMode.D, TINY, 256,
                    WeightSource.random(5, DecoderModel.INIT_STD), ModeRunner.options(lora, TINY, 5),
                    ReferenceLogps.NONE, null)) {
                here.timedStep(0);
                here.timedStep(1);
                ModeResult mine = here.result();
                assertEquals(mine.trainable_params(), r.trainable_params());
                assertEquals(mine.first_loss(), r.first_loss(), 1e-5 * Math.abs(mine.first_loss()));
                assertEquals(mine.last_loss(), r.last_loss(), 1e-5 * Math.abs(mine.last_loss()));
            }
        }
    }

    @Test
    void aWorkerRunsWithTheMallocSettingsTheReportNames() throws Exception {
        try (WorkerProcess worker = WorkerProcess.start(TrainingMode.E, 1)) {
            // The child's initial environment; glibc 2.36 overwrites the ':' between tunables with NULs in place while
            // it parses them, so the entries are compared with every separator read as ':'.
            String environ = ":" + Files.readString(Path.of("/proc", Long.toString(worker.pid()), "environ"))
                    .replace('\0', ':');
            assertTrue(environ.contains(":GLIBC_TUNABLES=" + WorkerProcess.mallocTunables() + ":"), environ);
            assertTrue(environ.contains(":OMP_NUM_THREADS=1:"), environ);
        }
        String defaults = WorkerProcess.MALLOC_TUNABLES;
        assertTrue(defaults.contains("glibc.malloc.mmap_threshold=")
                && defaults.contains("glibc.malloc.trim_threshold=")
                && defaults.contains("glibc.malloc.arena_max=1"), defaults);
    }

    @Test
    void aWorkerWhoseWorkloadFailsEndsAndSaysWhy() {
        // Three steps cannot have three warm-up steps and timed ones too: the failure happens on the worker's workload
        // thread. The worker must end (not live on with its main thread dead) and the caller must get the
        // reason from its stderr rather than wait for ever.
        List<List<TokenizedExample>> w = steps("HH-RLHF", 4);
        IllegalStateException e = assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            try (WorkerProcess worker = WorkerProcess.start(TrainingMode.D, 1)) {
                return assertThrows(IllegalStateException.class, () -> worker.prepare(w, 3, HfConfig.of(TINY).toJson(), 256, 5));
            }
        });
        assertTrue(e.getMessage().contains("ended without") && e.getMessage().contains("warm-up"), e.getMessage());
    }

    @Test
    void aRepeatedStepCountsItsFastestRun() {
        try (ModeRunner r = ModeRunner.prepare(steps("HH-RLHF", 3), 1, TrainingMode.E, TINY, 256, 5, null)) {
            // new steps run in order
            assertThrows(IllegalStateException.class, () -> r.timedStep(1));
            double first = r.timedStep(0);
            double next = r.timedStep(1);
            // a second pass: any step that has run may run again
            double again = r.timedStep(0);
            ModeResult result = r.result();
            assertEquals(2, result.steps());
            assertEquals((Math.min(first, again) + next) / 2, result.step_ms(), 1e-9);
            assertEquals(Math.min(Math.min(first, again), next), result.step_ms_min(), 1e-9);
        }
    }

    private static List<List<TokenizedExample>> steps(String profile, long seed) {
        WorkloadProfile p = WorkloadProfile.paper(profile).scaledDown(40);
        List<TokenizedExample> ex = new SyntheticWorkload(p, SyntheticWorkload.DEFAULT_SIGMA,
                (int) Math.ceil(3 * p.medianOverall())).generate(9, 260, seed, 0);
        List<List<TokenizedExample>> steps = new ArrayList<>();
        for (int i = 0; i < 9; i += 3) {
            steps.add(List.copyOf(ex.subList(i, i + 3)));
        }
        return steps;
    }
}
