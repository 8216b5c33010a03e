package org.prefixshare.cli;

import org.prefixshare.bench.training.BenchModels;
import org.prefixshare.bench.training.ModeBatches;
import org.prefixshare.bench.training.TrainingBenchmark;
import org.prefixshare.bench.training.TrainingBenchmark.Settings;
import org.prefixshare.bench.training.TrainingBenchmark.Workload;
import org.prefixshare.bench.training.TrainingMode;
import org.prefixshare.bench.training.TrainingReport;
import org.prefixshare.data.DropCounts;
import org.prefixshare.data.PreferenceExample;
import org.prefixshare.data.PreferenceReader;
import org.prefixshare.data.ReadCounts;
import org.prefixshare.data.TextTokenizer;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.Truncator;
import org.prefixshare.data.workload.WorkloadProfile;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code prefixshare bench training [--quick] [--json] [--report DIR] [--input FILE --format ...]}. */
@Command(name = "training", mixinStandardHelpOptions = true,
        description = {
                "DPO training throughput (forward + backward + Adam) of five layouts on the same model and the same "
                        + "examples per optimiser step: (a) paired padded + dense reference attention, (b) paired "
                        + "padded + native op, (c) prefix-shared one document per row, (d) prefix-shared packed, "
                        + "(e) paired packed; speedups (c)/(b), (d)/(b), (d)/(e) beside their ideal and the paper's.",
                "Workloads: the paper's six data sets as synthetic length profiles (default), or --input FILE.",
                "--lora-r N trains LoRA adapters on a frozen base in every mode instead of the whole model; "
                        + "--lora-vs-full adds (d) with full fine-tuning beside it."})
public final class BenchTrainingCommand implements Callable<Integer> {

    @Option(names = "--quick", description = "Lengths / 4, ~4096 paired tokens per step, 3 warm-up (at least 2 s) + "
            + "4 timed steps of (b), (c) and 20 of (d), (e), in two passes, mode (a) 1 + 1 (<= 10 min on 2 cores). "
            + "The full run: lengths / 2, ~8192 tokens per step, 3 warm-up + 10 timed steps of (b), (c) and 20 of "
            + "(d), (e), in two passes.")
    boolean quick;

    @Option(names = "--json", description = "End with one JSON line holding every figure.")
    boolean json;

    @Option(names = "--report", paramLabel = "DIR", description = "Write training.md, training.png and "
            + "training.json into DIR.")
    Path report;

    @Option(names = "--profiles", split = ",", description = "Paper profiles to run (default all six): Capybara, "
            + "HH-RLHF, MetaMath-DPO, TLDR, Tulu-Helpsteer, UltraFeedback.")
    List<String> profiles;

    @Option(names = "--modes", split = ",", defaultValue = "a,b,c,d,e",
            description = "Modes to run (default ${DEFAULT-VALUE}); b, c, d, e give the speedups.")
    List<String> modes;

    @Option(names = "--model", defaultValue = "bench", description = "Model shape: bench (hidden 256 x 2 layers), "
            + "large (hidden 1024 x 4 layers), tiny or small (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--lora-r", defaultValue = "0", description = "Train LoRA adapters of rank r on a frozen base in "
            + "every mode (alpha 2r, no dropout, PEFT's initialisation), as train --lora-r does; 0 (default): full "
            + "fine-tuning.")
    int loraR;

    @Option(names = "--lora-targets", defaultValue = "all-linear", description = "With --lora-r, the adapted "
            + "projections: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear (default "
            + "${DEFAULT-VALUE}).")
    String loraTargets;

    @Option(names = "--lora-vs-full", description = "With --lora-r, time mode (d) with full fine-tuning too, taking "
            + "turns step by step with (d) and (e) on the same examples: the ratio of LoRA's step over full "
            + "fine-tuning's.")
    boolean loraVsFull;

    @Option(names = "--length-divisor", description = "Divide every profile length by this (default: 4 quick, "
            + "2 full).")
    Double lengthDivisor;

    @Option(names = "--examples-per-step", description = "Least preference pairs per optimiser step (default 8).")
    Integer examplesPerStep;

    @Option(names = "--tokens-per-step", description = "Paired tokens a step should hold: a profile gets max("
            + "--examples-per-step, tokens / (2 x its median overall length)) examples per step, all modes alike; 0 "
            + "for exactly --examples-per-step (default: 4096 quick, 8192 full).")
    Integer tokensPerStep;

    @Option(names = "--warmup", description = "Untimed steps per mode (default 3: the JIT needs about three).")
    Integer warmup;

    @Option(names = "--steps", description = "Timed steps of (b) and (c) (default: 4 quick, 10 full; mode (a) 1).")
    Integer steps;

    @Option(names = "--packed-steps", description = "Timed steps of (d) and (e), whose ratio is the one compared with "
            + "the paper's packed figure; their steps are the shortest (default: 20 quick and full).")
    Integer packedSteps;

    @Option(names = "--pack-length", defaultValue = "0", description = "Row length of the packed modes (d), (e): "
            + "0 (default) puts each step's documents in one row, padded to a multiple of 64, the analogue of the "
            + "varlen packing (one token stream, no padding between documents) behind the paper's packed numbers; "
            + "N > 0 packs them first-fit-decreasing into rows of N tokens, at least the longest document.")
    int packLength;

    @Option(names = "--repeats", description = "Passes over the timed steps per mode; a step's fastest run counts, "
            + "so a stall of this shared machine does not decide a ratio (default 2; mode (a) 1).")
    Integer repeats;

    @Option(names = "--threads", defaultValue = "1", description = "OMP_NUM_THREADS of every mode's JVM (ND4J's ops, "
            + "OpenBLAS, the attention kernels); 0 inherits this environment (default ${DEFAULT-VALUE}: on 2 cores "
            + "the fork-join of ND4J's many small ops costs more than a second thread gains, for every mode).")
    int threads;

    @Option(names = "--in-process", description = "Run every mode in this JVM (faster to start; RSS peaks are then "
            + "not per mode).")
    boolean inProcess;

    @Option(names = "--seed", defaultValue = "1", description = "Workload and model seed (default ${DEFAULT-VALUE}).")
    long seed;

    @CommandLine.Mixin
    DatasetOptions data;

    @Override
    public Integer call() throws Exception {
        if (loraR < 0) {
            throw new IllegalArgumentException("--lora-r must be >= 0 (0: full fine-tuning), got " + loraR);
        }
        List<TrainingMode> ms = new ArrayList<>();
        for (String m : modes) {
            ms.add(TrainingMode.of(m.trim()));
        }
        String label = lengthDivisor == null && examplesPerStep == null && tokensPerStep == null && warmup == null
                && steps == null && packedSteps == null && repeats == null && packLength == ModeBatches.ONE_ROW
                ? (quick ? "quick" : "full") : "custom";
        Settings s = new Settings(label, lengthDivisor != null ? lengthDivisor : quick ? 4 : 2,
                examplesPerStep != null ? examplesPerStep : 8,
                tokensPerStep != null ? tokensPerStep : quick ? 4096 : 8192, warmup != null ? warmup : 3,
                steps != null ? steps : quick ? 4 : 10, packedSteps != null ? packedSteps : 20,
                repeats != null ? repeats : 2, packLength,
                model, BenchModels.byName(model), ms, inProcess, seed, threads,
                loraR > 0 ? TrainingBenchmark.benchLora(loraR, loraTargets) : null, loraVsFull);
        System.out.println(TrainingReport.scaleLine(s));
        // results on standard output (its last line is --json's), what is running on standard error
        TrainingBenchmark bench = new TrainingBenchmark(s, System.out::println, line -> {
            System.err.println(line);
            System.err.flush();
        });
        List<Workload> workloads;
        if (data.input != null) {
            workloads = List.of(bench.realWorkload(data.input.getFileName().toString(), readInput()));
        } else {
            List<WorkloadProfile> ps = new ArrayList<>();
            if (profiles == null || profiles.isEmpty()) {
                ps.addAll(WorkloadProfile.PAPER);
            } else {
                for (String p : profiles) {
                    ps.add(WorkloadProfile.paper(p.trim()));
                }
            }
            workloads = bench.syntheticWorkloads(ps);
        }
        TrainingBenchmark.Result r = bench.run(workloads);
        TrainingReport.printTable(r, System.out);
        if (report != null) {
            Path md = TrainingReport.writeReport(r, report, machine());
            System.out.println("report: " + md + " (chart " + report.resolve("training.png") + ")");
        }
        if (json) {
            System.out.println(TrainingReport.jsonLine(r));
        }
        return 0;
    }

    private List<TokenizedExample> readInput() {
        try (TextTokenizer tok = data.openTokenizer()) {
            ReadCounts rc = new ReadCounts();
            List<PreferenceExample> raw = new PreferenceReader(data.readerOptions()).readAll(data.input, rc);
            DropCounts dropped = new DropCounts();
            List<TokenizedExample> kept = new Truncator(data.truncation(2 * data.maxLength + 1), tok.bosId())
                    .applyAll(data.exampleTokenizer(tok).tokenizeAll(raw), dropped);
            System.out.printf("data: %d examples from %s (%d invalid records skipped, %d dropped: %s)%n",
                    kept.size(), data.input, rc.skippedTotal(), raw.size() - kept.size(), dropped);
            if (kept.isEmpty()) {
                throw new IllegalArgumentException("no usable examples in " + data.input);
            }
            return kept;
        }
    }

    /** CPU model and core count, for the report. */
    static String machine() {
        String cpu = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux: keep the generic name
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.name")
                + ", Java " + System.getProperty("java.version");
    }
}
