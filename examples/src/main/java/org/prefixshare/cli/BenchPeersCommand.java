package org.prefixshare.cli;

import org.prefixshare.bench.training.BenchModels;
import org.prefixshare.bench.training.PeerSides;
import org.prefixshare.bench.training.PeersBenchmark;
import org.prefixshare.bench.training.PeersBenchmark.Model;
import org.prefixshare.bench.training.PeersBenchmark.Settings;
import org.prefixshare.bench.training.PeersBenchmark.Side;
import org.prefixshare.bench.training.PeersReport;
import org.prefixshare.bench.training.TorchPeer;
import org.prefixshare.bench.training.TrainingMode;
import org.prefixshare.data.workload.WorkloadProfile;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code prefixshare bench peers [--quick] [--json] [--profiles ...] [--report DIR] [--threads N]}. */
@Command(name = "peers", mixinStandardHelpOptions = true,
        description = {
                "The same DPO training step in PyTorch (what TRL runs) and in prefixshare, side by side in one run: "
                        + "the same model, initial weights (one Hugging Face directory both sides read), examples "
                        + "and reference log-probs, the sides taking turns step by step. Sides: PyTorch paired and "
                        + "padded (TRL's default), PyTorch paired and packed (block-diagonal mask), ours (b) paired "
                        + "and (d) prefix-shared packed. The first step's losses must agree (1e-4 relative) before "
                        + "the timings compare.",
                "Needs Debian's PyTorch: apt-get install -y python3-torch libopenblas0-pthread. The PyTorch side "
                        + "reports its BLAS; on Debian's reference BLAS (no OpenBLAS) the table says so loudly.",
                "The bench model on all six profiles: prefixshare bench peers --json --report DIR. The large shape, "
                        + "~30x the work a step: add --models large --quick --tokens-per-step 0 --warmup 1 --steps 2 "
                        + "--repeats 1 --no-torch-packed. Setup and fields: docs/bench-peers.md.",
                "Exit status: 0 done, 1 a loss check failed, 2 bad input or no PyTorch."})
public final class BenchPeersCommand implements Callable<Integer> {

    @Option(names = "--quick", description = "Lengths / 4, ~4096 paired tokens per step, 3 warm-up + 3 timed steps "
            + "in 2 passes. The full run: lengths / 2, ~8192 tokens per step, 3 warm-up + 6 timed steps in 2 passes.")
    boolean quick;

    @Option(names = "--json", description = "End with one JSON line holding every figure.")
    boolean json;

    @Option(names = "--report", paramLabel = "DIR", description = "Write peers.md, peers.png and peers.json into DIR.")
    Path report;

    @Option(names = "--profiles", split = ",", description = "Paper profiles to run (default all six): Capybara, "
            + "HH-RLHF, MetaMath-DPO, TLDR, Tulu-Helpsteer, UltraFeedback.")
    List<String> profiles;

    @Option(names = "--models", split = ",", defaultValue = "bench", description = "Model shapes, one after another "
            + "(default ${DEFAULT-VALUE}): bench (hidden 256 x 2 layers), large (hidden 1024 x 4 layers: ~30x the "
            + "work of a step), tiny, small.")
    List<String> models;

    @Option(names = "--threads", defaultValue = "1", description = "Threads of every side: OMP_NUM_THREADS of our "
            + "worker JVMs; torch.set_num_threads and OMP/MKL/OPENBLAS_NUM_THREADS of PyTorch's (default "
            + "${DEFAULT-VALUE}, as bench training).")
    int threads;

    @Option(names = "--omp-wait-policy", defaultValue = "passive", description = "OMP_WAIT_POLICY of every side's "
            + "process, or 'inherit' (default ${DEFAULT-VALUE}: with more than one thread, idle OpenMP workers that "
            + "spin take the cores from OpenBLAS's threads; PyTorch's paired step at 2 threads took 4.3-6.0 s so, "
            + "1.7 s passive).")
    String ompWaitPolicy;

    @Option(names = "--length-divisor", description = "Divide every profile length by this (default: 4 quick, "
            + "2 full).")
    Double lengthDivisor;

    @Option(names = "--examples-per-step", description = "Least preference pairs per optimiser step (default 8).")
    Integer examplesPerStep;

    @Option(names = "--tokens-per-step", description = "Paired tokens a step should hold (default: 4096 quick, "
            + "8192 full; 0: exactly --examples-per-step).")
    Integer tokensPerStep;

    @Option(names = "--warmup", description = "Untimed steps per side (default 3).")
    Integer warmup;

    @Option(names = "--steps", description = "Timed steps per side (default: 3 quick, 6 full).")
    Integer steps;

    @Option(names = "--repeats", description = "Passes over the timed steps (default 2).")
    Integer repeats;

    @Option(names = "--no-torch-packed", description = "Leave out PyTorch paired + packed (its dense T x T attention "
            + "is the slowest side).")
    boolean noTorchPacked;

    @Option(names = "--torch-memory-budget", paramLabel = "MB", defaultValue = "6144", description = "Skip PyTorch "
            + "packed on a workload whose dense T x T attention would need more than this (default ${DEFAULT-VALUE}).")
    double torchMemoryBudget;

    @Option(names = "--profile-ops", paramLabel = "STEPS", defaultValue = "0", description = "After each workload's "
            + "timing, run this many more steps of every side under an op profiler and print where the time goes "
            + "(torch.autograd.profiler; ours: a SameDiff listener timing every op). Default 0 (off).")
    int profileOps;

    @Option(names = "--in-process", description = "Run ours in this JVM (faster to start; its RSS is then this "
            + "JVM's).")
    boolean inProcess;

    @Option(names = "--torchref", paramLabel = "DIR", description = "The python/torchref directory (default: found "
            + "beside this build).")
    Path torchref;

    @Option(names = "--python", defaultValue = TorchPeer.PYTHON, description = "The Python with Debian's torch "
            + "(default ${DEFAULT-VALUE}).")
    String python;

    @Option(names = "--seed", defaultValue = "1", description = "Workload, weights and reference seed (default "
            + "${DEFAULT-VALUE}).")
    long seed;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!TorchPeer.torchAvailable(python)) {
            spec.commandLine().getErr().println("prefixshare bench peers: " + python + " cannot import torch. "
                    + "Install Debian's PyTorch and OpenBLAS: apt-get install -y python3-torch libopenblas0-pthread "
                    + "(call /usr/bin/python3: a pyenv python first on PATH cannot see Debian's packages)");
            return PrefixShareCli.BAD_INPUT;
        }
        Path ref = torchref != null ? torchref : findTorchref();
        if (!Files.isRegularFile(ref.resolve(TorchPeer.SCRIPT))) {
            throw new IllegalArgumentException("--torchref " + ref + " has no " + TorchPeer.SCRIPT);
        }
        List<Model> ms = new ArrayList<>();
        for (String m : models) {
            ms.add(new Model(m.trim(), BenchModels.byName(m.trim())));
        }
        List<WorkloadProfile> ps = new ArrayList<>();
        if (profiles == null || profiles.isEmpty()) {
            ps.addAll(WorkloadProfile.PAPER);
        } else {
            for (String p : profiles) {
                ps.add(WorkloadProfile.paper(p.trim()));
            }
        }
        int n = threads;
        String policy = ompWaitPolicy.equalsIgnoreCase("inherit") ? null : ompWaitPolicy;
        String label = lengthDivisor == null && examplesPerStep == null && tokensPerStep == null && warmup == null
                && steps == null && repeats == null ? (quick ? "quick" : "full") : "custom";
        Settings s = new Settings(label, lengthDivisor != null ? lengthDivisor : quick ? 4 : 2,
                examplesPerStep != null ? examplesPerStep : 8,
                tokensPerStep != null ? tokensPerStep : quick ? 4096 : 8192, warmup != null ? warmup : 3,
                steps != null ? steps : quick ? 3 : 6, repeats != null ? repeats : 2, ms, n, seed, 1e-4, profileOps,
                policy);
        System.out.println(PeersReport.scaleLine(s));
        List<Side> sides = new ArrayList<>();
        try {
            PeerSides.TorchSide paired = PeerSides.torch(TorchPeer.Layout.PAIRED, python, ref, n, torchMemoryBudget,
                    s.environment());
            sides.add(paired);
            System.out.println("PyTorch: " + paired.info().describe());
            String warning = PeersReport.blasWarning(paired.info());
            if (warning != null) {
                System.out.println(warning);
            }
            sides.add(PeerSides.ours(TrainingMode.B, n, inProcess, seed, s.environment()));
            sides.add(PeerSides.ours(TrainingMode.D, n, inProcess, seed, s.environment()));
            if (!noTorchPacked) {
                sides.add(PeerSides.torch(TorchPeer.Layout.PACKED, python, ref, n, torchMemoryBudget,
                        s.environment()));
            }
            Map<String, String> env = new LinkedHashMap<>();
            env.put("machine", BenchTrainingCommand.machine());
            env.put("ours", inProcess ? "in this JVM" : "a worker JVM per mode for the run");
            env.put("torchref", ref.toAbsolutePath().normalize().toString());
            PeersBenchmark bench = new PeersBenchmark(s, System.out::println);
            PeersBenchmark.Result r = bench.run(ps, sides, paired.info(), env);
            PeersReport.printTable(r, System.out);
            if (report != null) {
                Path md = PeersReport.writeReport(r, report, BenchTrainingCommand.machine(),
                        "prefixshare " + String.join(" ", spec.commandLine().getParseResult()
                                .originalArgs()));
                System.out.println("report: " + md + " (chart " + report.resolve("peers.png") + ")");
            }
            if (json) {
                System.out.println(PeersReport.jsonLine(r));
            }
            return r.profiles().stream().allMatch(p -> p.lossCheck().ok()) ? 0 : 1;
        } finally {
            for (Side side : sides) {
                side.close();
            }
        }
    }

    /**
     * python/torchref of this checkout: above the running jar or classes directory ({@code examples/target/...}),
     * else under the current directory.
     */
    static Path findTorchref() {
        List<Path> starts = new ArrayList<>();
        try {
            starts.add(Path.of(BenchPeersCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (Exception ignored) {
            // no code source: look from the current directory only
        }
        starts.add(Path.of("").toAbsolutePath());
        for (Path start : starts) {
            for (Path p = start; p != null; p = p.getParent()) {
                Path candidate = p.resolve("python").resolve("torchref");
                if (Files.isRegularFile(candidate.resolve(TorchPeer.SCRIPT))) {
                    return candidate;
                }
            }
        }
        throw new IllegalArgumentException("cannot find python/torchref/" + TorchPeer.SCRIPT + " above "
                + starts + "; give --torchref DIR");
    }
}
