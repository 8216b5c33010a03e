package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.pack.ReferenceLogps;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A {@link TrainingWorker} child JVM (this JVM's java, options and class path) that measures one mode for every
 * workload of a run, driven over its stdin/stdout: {@link #prepare} hands it a workload and waits for its warm-up;
 * the returned session runs one timed step per call. One JVM per mode keeps each mode's peak RSS its own (the worker
 * restarts the peak for each workload), and one JVM for the whole run lets the JIT finish compiling SameDiff's code
 * paths once instead of in every workload's first steps.
 */
final class WorkerProcess implements AutoCloseable {

    /**
     * glibc malloc settings of every worker, unless this process's environment sets {@code GLIBC_TUNABLES} (the
     * {@code prefixshare} launcher sets the same). With glibc's defaults a step's large arrays are mmapped, or the
     * heap top is trimmed, and every step faults them in again: Capybara (e) at lengths / 4 took ~5,400 minor faults
     * and ~40 ms (11%) more a step than with these settings, (b) ~15,000, while (d)'s smaller arrays mostly stayed
     * under the thresholds. Left at the defaults, the faults favoured the layouts with the smaller arrays in every
     * speedup. One arena ({@code arena_max=1}): the step's thread otherwise gets one of glibc's per-thread arenas or
     * the main one as it happens at its first allocation, and a per-thread arena grows in 64 MB heaps that it maps
     * and unmaps as a step's arrays come and go. Which one a worker got decided its faults for the whole run:
     * HH-RLHF (d) and (e) workers took 320-4,900 minor faults a step without it, 280-420 with it, and (d)/(e) in
     * three runs each read 1.411, 1.490, 1.518 without it and 1.433, 1.470, 1.448 with it.
     */
    static final String MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1073741824:"
            + "glibc.malloc.trim_threshold=1073741824:glibc.malloc.arena_max=1";

    private final TrainingMode mode;
    private final Path dir;
    private final Process process;
    private final PrintWriter toWorker;
    private final BufferedReader fromWorker;
    private int prepared;

    private WorkerProcess(TrainingMode mode, Path dir, Process process) {
        this.mode = mode;
        this.dir = dir;
        this.process = process;
        this.toWorker = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        this.fromWorker = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /**
     * Starts the worker JVM of a mode (it waits for its first workload).
     *
     * @param threads OMP_NUM_THREADS of the child, or 0 to inherit this environment
     */
    static WorkerProcess start(TrainingMode m, int threads) throws IOException {
        return start(m, threads, Map.of());
    }

    /** As {@link #start(TrainingMode, int)} with more environment variables for the child. */
    static WorkerProcess start(TrainingMode m, int threads, Map<String, String> env) throws IOException {
        Path dir = Files.createTempDirectory("prefixshare-bench-" + m.key() + "-");
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent") && !a.startsWith("-Xrunjdwp")) {
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(TrainingWorker.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(dir.resolve("stderr.txt").toFile());
        if (threads > 0) {
            pb.environment().put("OMP_NUM_THREADS", Integer.toString(threads));
        }
        pb.environment().put("GLIBC_TUNABLES", mallocTunables());
        pb.environment().putAll(env);
        return new WorkerProcess(m, dir, pb.start());
    }

    /** Whether the worker JVM is still running (a kernel out-of-memory kill ends it). */
    boolean alive() {
        return process.isAlive();
    }

    /** The worker JVM's process id. */
    long pid() {
        return process.pid();
    }

    /** The workers' {@code GLIBC_TUNABLES}: this environment's, else {@link #MALLOC_TUNABLES}. */
    static String mallocTunables() {
        return System.getenv().getOrDefault("GLIBC_TUNABLES", MALLOC_TUNABLES);
    }

    /** Hands the worker a workload; returns once it has built the model and warmed up. */
    ModeSession prepare(List<List<TokenizedExample>> steps, int warmup, String modelJson, int packLength,
                        long seed) throws Exception {
        return prepare(steps, warmup, modelJson, packLength, seed, null, ReferenceLogps.NONE, null);
    }

    /**
     * As {@link #prepare(List, int, String, int, long)} with the initial weights of a Hugging Face directory
     * ({@code modelDir}; null: seeded), precomputed reference log-probs ({@link ReferenceLogps#NONE}: zeros) and
     * LoRA adapters to train on a frozen base ({@code lora}; null: full fine-tuning).
     */
    ModeSession prepare(List<List<TokenizedExample>> steps, int warmup, String modelJson, int packLength,
                        long seed, Path modelDir, ReferenceLogps references, LoraConfig lora) throws Exception {
        int n = ++prepared;
        Path workload = dir.resolve("workload-" + n + ".bin");
        WorkloadFile.write(workload, steps);
        Path refs = null;
        if (references != ReferenceLogps.NONE) {
            refs = dir.resolve("references-" + n + ".bin");
            WorkloadFile.writeReferences(refs, steps, references);
        }
        Path adapter = null;
        if (lora != null) {
            lora.write(dir);
            adapter = dir.resolve(LoraConfig.CONFIG_FILE);
        }
        Path request = dir.resolve("request-" + n + ".json");
        Files.writeString(request, TrainingWorker.toJson(new TrainingWorker.Request(workload.toString(), warmup,
                mode.key(), modelJson, packLength, seed, modelDir == null ? null : modelDir.toString(),
                refs == null ? null : refs.toString(), adapter == null ? null : adapter.toString())));
        toWorker.println(TrainingWorker.PREPARE + " " + request);
        expect(TrainingWorker.READY);
        Files.deleteIfExists(workload);
        Files.deleteIfExists(request);
        if (refs != null) {
            Files.deleteIfExists(refs);
        }
        if (adapter != null) {
            Files.deleteIfExists(adapter);
        }
        double[] lastLoss = {Double.NaN};
        return new ModeSession() {
            @Override
            public void rewarm() throws Exception {
                toWorker.println(TrainingWorker.REWARM);
                expect(TrainingWorker.REWARMED);
            }

            @Override
            public double step(int t) throws Exception {
                toWorker.println(TrainingWorker.STEP + " " + t);
                String[] took = expect(TrainingWorker.TOOK).split(" ");
                lastLoss[0] = Double.parseDouble(took[1]);
                return Double.parseDouble(took[0]);
            }

            @Override
            public double lastLoss() {
                return lastLoss[0];
            }

            @Override
            public String profileOps(int n) throws Exception {
                toWorker.println(TrainingWorker.PROFILE + " " + n);
                return new ObjectMapper().readValue(expect(TrainingWorker.PROFILED),
                        String.class);
            }

            @Override
            public ModeResult finish() throws Exception {
                toWorker.println(TrainingWorker.DONE);
                return TrainingWorker.parseResult(List.of(expect(TrainingWorker.RESULT)));
            }

            @Override
            public void close() {
                // the JVM stays for the next workload; WorkerProcess.close ends it
            }
        };
    }

    /** Reads stdout up to the next line with this protocol tag (other lines are SameDiff's prints); its rest. */
    private String expect(String tag) throws IOException {
        String line;
        while ((line = fromWorker.readLine()) != null) {
            if (line.startsWith(tag)) {
                return line.substring(tag.length()).trim();
            }
        }
        throw new IllegalStateException("mode " + mode.key() + " ended without '" + tag + "'" + stderrTail());
    }

    private String stderrTail() {
        try {
            process.waitFor(10, TimeUnit.SECONDS);
            List<String> e = Files.readAllLines(dir.resolve("stderr.txt"), StandardCharsets.UTF_8);
            return (process.isAlive() ? "" : " (exit " + process.exitValue() + ")") + ":\n"
                    + String.join("\n", e.subList(Math.max(0, e.size() - 40), e.size()));
        } catch (IOException | InterruptedException ex) {
            return "";
        }
    }

    /** Ends the worker (asks it to exit, then forces it) and removes its files. */
    @Override
    public void close() {
        end(process, toWorker, TrainingWorker.EXIT, dir);
    }

    /**
     * Ends a child process of a benchmark: sends it {@code exitLine}, waits up to 10 s, then forces it; removes its
     * directory of files.
     */
    static void end(Process process, PrintWriter input, String exitLine, Path dir) {
        if (process.isAlive()) {
            input.println(exitLine);
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        File[] kids = dir.toFile().listFiles();
        if (kids != null) {
            for (File k : kids) {
                k.delete();
            }
        }
        dir.toFile().delete();
    }
}
