package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelDirectory;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.nativeload.NativeKernels;
import org.prefixshare.ops.nativeload.NativeLibrary;
import org.prefixshare.pack.ReferenceLogps;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Entry point of the child JVM that measures one mode, so that its peak RSS and off-heap peak belong to that mode
 * alone. Not a user command: {@link WorkerProcess} starts it with the parent's java, JVM options and class path, and
 * it serves that mode for every workload of the run, so its JIT-compiled code carries over from one workload to the
 * next as it does in a long training run. Before each workload it collects the previous one's arrays, returns
 * glibc's free pages and restarts the peak RSS, so each workload's figure is the process's peak while it ran. What
 * still stays resident beyond a fresh worker's size (JVM growth, fragmented arenas: RSS 157-230 MB over five
 * workloads in process) is reported as {@link ModeResult#carried_mb()} but not subtracted: the next workload reuses
 * it, so its absolute peak hardly depends on what ran before, and the difference would. Protocol (stdout
 * lines tagged, since SameDiff prints on stdout too): {@code PREPARE request.json} builds the workload's batches and
 * model, warms up and answers {@link #READY}; {@code REWARM} runs one more untimed step and answers
 * {@link #REWARMED}; each {@code STEP t} runs timed step t and answers {@code TOOK ms loss}; {@code PROFILE n} runs n more steps under {@link OpProfile} and answers
 * {@code PROFILE "table"}; {@code DONE} answers
 * {@code RESULT json} ({@link ModeResult}) and releases the workload; {@code EXIT} (or the end of stdin) ends the
 * process.
 */
public final class TrainingWorker {

    static final String READY = "PSW READY";
    static final String TOOK = "PSW TOOK";
    static final String RESULT = "PSW RESULT";
    static final String REWARMED = "PSW REWARMED";
    static final String PROFILED = "PSW PROFILE";
    static final String PREPARE = "PREPARE";
    static final String REWARM = "REWARM";
    static final String STEP = "STEP";
    static final String PROFILE = "PROFILE";
    static final String DONE = "DONE";
    static final String EXIT = "EXIT";

    /**
     * What the parent asks for.
     *
     * @param workload    workload file ({@link WorkloadFile})
     * @param warmup      untimed steps
     * @param mode        "a" .. "e"
     * @param modelConfig the model as Hugging Face config.json text (float32)
     * @param packLength  row length of packed modes
     * @param seed        model seed (when there is no model directory) and the LoRA adapters' seed
     * @param modelDir    a Hugging Face directory holding the initial weights, or null for seeded random weights
     * @param references  a reference log-probs file ({@link WorkloadFile#writeReferences}), or null for zeros
     * @param lora        an {@code adapter_config.json} ({@link LoraConfig}) to train LoRA adapters on a frozen base,
     *                    or null for full fine-tuning
     */
    public record Request(String workload, int warmup, String mode, String modelConfig, int packLength, long seed,
                          String modelDir, String references, String lora) {
    }

    private TrainingWorker() {
    }

    /**
     * Serves commands until {@code EXIT}. Any failure (a mode that runs out of memory, such as the dense reference at
     * full scale) ends the process with its stack trace on stderr: a JVM whose main thread died would otherwise stay
     * alive on its workload thread, and the parent would wait for a reply for ever.
     */
    public static void main(String[] args) {
        if (args.length != 0) {
            System.err.println("usage: TrainingWorker (started by prefixshare bench training; commands on stdin)");
            System.exit(2);
        }
        try {
            serve();
        } catch (Throwable t) {
            t.printStackTrace();
            System.err.flush();
            System.exit(3);
        }
        System.exit(0);
    }

    private static void serve() throws Exception {
        ObjectMapper om = new ObjectMapper();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        ModeRunner runner = null;
        ExecutorService thread = null;
        // What a fresh worker holds before its first workload (JVM, ND4J and the native library loaded); later
        // workloads' memory figures are taken relative to it.
        PrefixShareOps.init();
        Nd4j.create(DataType.FLOAT, 1).addi(1);
        releaseMemory();
        long freshRss = Pointer.physicalBytes();
        long carried = 0;
        String line;
        while ((line = in.readLine()) != null) {
            if (line.startsWith(PREPARE + " ")) {
                endWorkload(runner, thread);
                runner = null;
                thread = null;
                Request r = om.readValue(Files.readString(Path.of(line.substring(PREPARE.length() + 1).trim())),
                        Request.class);
                DecoderConfig config = HfConfig.parse(r.modelConfig(), "bench worker request").decoder();
                List<List<TokenizedExample>> steps = WorkloadFile.read(Path.of(r.workload()));
                ReferenceLogps refs = r.references() == null ? ReferenceLogps.NONE
                        : WorkloadFile.readReferences(Path.of(r.references()));
                DecoderModel.Options options = ModeRunner.options(r.lora() == null ? null
                        : LoraConfig.read(Path.of(r.lora())), config, r.seed());
                carried = Math.max(0, Pointer.physicalBytes() - freshRss);
                MemoryProbe.resetPeakRss();
                // Each workload runs on a thread of its own: what ND4J and the fused ops keep per thread (scratch
                // sized to the largest call seen) goes with the thread instead of into the next workload's peak.
                thread = Executors.newSingleThreadExecutor(TrainingWorker::workloadThread);
                runner = thread.submit(() -> {
                    // the model reads its weights while it is built, so the directory closes after prepare
                    try (HfModelDirectory dir = r.modelDir() == null ? null
                            : HfModelDirectory.open(Path.of(r.modelDir()))) {
                        WeightSource weights = dir == null ? WeightSource.random(r.seed(), DecoderModel.INIT_STD)
                                : dir.weights(config);
                        return ModeRunner.prepare(steps, r.warmup(), TrainingMode.of(r.mode()), config,
                                r.packLength(), weights, options, refs, System.err::println);
                    }
                }).get();
                reply(READY);
            } else if (line.equals(REWARM) && runner != null) {
                ModeRunner on = runner;
                thread.submit(on::rewarm).get();
                reply(REWARMED);
            } else if (line.startsWith(STEP + " ") && runner != null) {
                int t = Integer.parseInt(line.substring(STEP.length() + 1).trim());
                ModeRunner on = runner;
                double took = thread.submit(() -> on.timedStep(t)).get();
                reply(TOOK + " " + took + " " + on.lastLoss());
            } else if (line.startsWith(PROFILE + " ") && runner != null) {
                int n = Integer.parseInt(line.substring(PROFILE.length() + 1).trim());
                ModeRunner on = runner;
                reply(PROFILED + " " + om.writeValueAsString(thread.submit(() -> OpProfile.run(on, n)).get()));
            } else if (line.equals(DONE) && runner != null) {
                reply(RESULT + " " + om.writeValueAsString(runner.result().isolatedRun(carried / 1048576.0)));
                endWorkload(runner, thread);
                runner = null;
                thread = null;
            } else if (line.equals(EXIT)) {
                break;
            } else {
                throw new IllegalStateException("TrainingWorker: unexpected command '" + line + "'");
            }
        }
    }

    /**
     * Ends a workload (nothing to do when there is none) and frees its memory at once, so an idle worker holds little
     * while the other modes run.
     */
    private static void endWorkload(ModeRunner runner, ExecutorService thread) throws InterruptedException {
        if (runner == null && thread == null) {
            return;
        }
        if (runner != null) {
            runner.close();
        }
        if (thread != null) {
            thread.shutdown();
            thread.awaitTermination(1, TimeUnit.MINUTES);
        }
        releaseMemory();
    }

    /**
     * Frees what the last workload left: its arrays (garbage once its runner and thread are gone; JavaCPP frees them
     * on a thread of its own after a collection, hence the second collection after a pause) and the pages glibc
     * keeps in its heaps after they are freed.
     */
    private static void releaseMemory() throws InterruptedException {
        System.gc();
        Thread.sleep(200);
        System.gc();
        if (NativeLibrary.isAvailable()) {
            NativeKernels.releaseFreeMemory();
        }
    }

    /** The thread a workload runs on; a daemon, so it never keeps a worker alive on its own. */
    private static Thread workloadThread(Runnable r) {
        Thread t = new Thread(r, "prefixshare-bench-workload");
        t.setDaemon(true);
        return t;
    }

    /** A protocol line, on a line of its own (SameDiff may have left a partial line on stdout). */
    private static void reply(String tagged) {
        System.out.println();
        System.out.println(tagged);
        System.out.flush();
    }

    /** The request as JSON text. */
    static String toJson(Request r) throws Exception {
        return new ObjectMapper().writeValueAsString(r);
    }

    /** Parses a worker's result: the last line that is a JSON object. */
    static ModeResult parseResult(List<String> stdout) throws Exception {
        for (int i = stdout.size() - 1; i >= 0; i--) {
            String line = stdout.get(i).trim();
            if (line.startsWith("{")) {
                return new ObjectMapper().readValue(line, ModeResult.class);
            }
        }
        throw new IllegalStateException("the worker printed no result line");
    }
}
