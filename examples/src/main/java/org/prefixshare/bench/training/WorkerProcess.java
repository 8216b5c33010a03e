package org.prefixshare.bench.training;

import org.prefixshare.data.TokenizedExample;

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
import java.util.concurrent.TimeUnit;

/**
 * A {@link TrainingWorker} child JVM (this JVM's java, options and class path) driven over its stdin/stdout: it
 * prepares and warms up its mode, then runs one timed step per request. Its peak RSS (VmHWM) belongs to its mode
 * alone.
 */
final class WorkerProcess implements ModeSession {

    private final TrainingMode mode;
    private final Path dir;
    private final Process process;
    private final PrintWriter toWorker;
    private final BufferedReader fromWorker;

    private WorkerProcess(TrainingMode mode, Path dir, Process process) {
        this.mode = mode;
        this.dir = dir;
        this.process = process;
        this.toWorker = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        this.fromWorker = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /**
     * Starts the worker and waits until it has warmed up.
     *
     * @param threads OMP_NUM_THREADS of the child, or 0 to inherit this environment
     */
    static WorkerProcess start(List<List<TokenizedExample>> steps, int warmup, TrainingMode m, String modelJson,
                               int packLength, long seed, int threads) throws Exception {
        Path dir = Files.createTempDirectory("prefixshare-bench-");
        Path workload = dir.resolve("workload.bin");
        WorkloadFile.write(workload, steps);
        Path request = dir.resolve("request.json");
        Files.writeString(request, TrainingWorker.toJson(new TrainingWorker.Request(workload.toString(), warmup,
                m.key(), modelJson, packLength, seed)));
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
        cmd.add(request.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(dir.resolve("stderr.txt").toFile());
        if (threads > 0) {
            pb.environment().put("OMP_NUM_THREADS", Integer.toString(threads));
        }
        WorkerProcess w = new WorkerProcess(m, dir, pb.start());
        try {
            w.expect(TrainingWorker.READY);
        } catch (Exception e) {
            w.close();
            throw e;
        }
        return w;
    }

    @Override
    public double step(int t) throws Exception {
        toWorker.println(TrainingWorker.STEP + " " + t);
        return Double.parseDouble(expect(TrainingWorker.TOOK));
    }

    @Override
    public ModeResult finish() throws Exception {
        toWorker.println(TrainingWorker.DONE);
        ModeResult r = TrainingWorker.parseResult(List.of(expect(TrainingWorker.RESULT)));
        if (!process.waitFor(1, TimeUnit.MINUTES)) {
            throw new IllegalStateException("mode " + mode.key() + " did not exit after its result");
        }
        return r;
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

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
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
