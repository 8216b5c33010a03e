package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.bench.training.PeersBenchmark.Model;
import org.prefixshare.bench.training.PeersBenchmark.ProfileResult;
import org.prefixshare.bench.training.PeersBenchmark.Result;
import org.prefixshare.bench.training.PeersBenchmark.Settings;
import org.prefixshare.bench.training.PeersBenchmark.SideResult;

import java.awt.Color;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.prefixshare.bench.training.PeersBenchmark.OURS_B;
import static org.prefixshare.bench.training.PeersBenchmark.OURS_D;
import static org.prefixshare.bench.training.PeersBenchmark.SIDES;
import static org.prefixshare.bench.training.PeersBenchmark.TORCH_PACKED;
import static org.prefixshare.bench.training.PeersBenchmark.TORCH_PAIRED;
import static org.prefixshare.bench.training.TrainingReport.fmt;
import static org.prefixshare.bench.training.TrainingReport.num;
import static org.prefixshare.bench.training.TrainingReport.x;

/** Terminal table, the JSON line and the Markdown report of {@code bench peers}. */
public final class PeersReport {

    /** The goals of issue 29: ours (b) and ours (d) over PyTorch paired. */
    public static final double GOAL_B = 1.0;
    public static final double GOAL_D = 2.0;

    private PeersReport() {
    }

    /** What each side is, for the legend. */
    public static String legend() {
        return "torch_paired: " + TorchPeer.Layout.PAIRED.description() + " (TRL's DPO step); torch_packed: "
                + TorchPeer.Layout.PACKED.description() + "; ours_b: (b) " + TrainingMode.B.description()
                + "; ours_d: (d) " + TrainingMode.D.description() + ", one row per step";
    }

    /** The scale and settings, one line. */
    public static String scaleLine(Settings s) {
        List<String> models = new ArrayList<>();
        for (Model m : s.models()) {
            var c = m.config();
            models.add(String.format(Locale.ROOT, "%s (%,d parameters: hidden %d, %d layers, %d heads x %d, %d kv "
                            + "heads, MLP %d, vocab %d, float32)", m.name(), c.parameterCount(), c.hiddenSize(),
                    c.numLayers(), c.numHeads(), c.headDim(), c.numKvHeads(), c.intermediateSize(), c.vocabSize()));
        }
        String perStep = s.tokensPerStep() == 0 ? s.examplesPerStep() + " examples"
                : "at least " + s.examplesPerStep() + " examples and ~" + s.tokensPerStep() + " paired tokens";
        return String.join("; ", "scale: " + s.scaleLabel(),
                "lengths of the paper's profiles / " + fmt(s.lengthDivisor()), "models " + String.join(", ", models),
                perStep + " per optimiser step (every side alike)",
                String.format(Locale.ROOT, "%d warm-up steps (repeated to >= 2 s; ours >= 10 s and 200 probe steps, "
                        + "at most 30 s of them, in a worker's first workload) + %d timed steps x %d passes, the sides taking turns step by "
                        + "step", s.warmup(), s.steps(), s.repeats()),
                "samples/s = examples per step / the median of all timed runs (every side alike)",
                "loss check: first timed step (from the directory's weights) within " + s.lossTolerance()
                        + " relative of torch_paired's",
                String.format(Locale.ROOT, "%d threads every side (ours OMP_NUM_THREADS=%d; torch.set_num_threads(%d) "
                        + "and OMP/MKL/OPENBLAS_NUM_THREADS=%d)", s.threads(), s.threads(), s.threads(), s.threads()),
                "OMP_WAIT_POLICY" + (s.ompWaitPolicy() == null ? " " + System.getenv().getOrDefault("OMP_WAIT_POLICY",
                        "unset") + " (inherited)" : "=" + s.ompWaitPolicy()) + " every side",
                "GLIBC_TUNABLES=" + WorkerProcess.mallocTunables() + " every side");
    }

    /** A loud line when PyTorch runs on the reference BLAS (its numbers would flatter us ~10x), else null. */
    public static String blasWarning(TorchPeer.Info torch) {
        if (torch == null || !torch.referenceBlas()) {
            return null;
        }
        return "WARNING: PyTorch is using the REFERENCE BLAS (" + String.join(", ", torch.blasLibraries())
                + "): its steps are ~10x slower than with OpenBLAS, so these ratios flatter prefixshare and are NOT a "
                + "fair comparison. Install OpenBLAS (apt-get install -y libopenblas0-pthread; Debian's alternatives "
                + "then point libblas.so.3 at it) and run again.";
    }

    /** The terminal table. */
    public static void printTable(Result r, PrintStream out) {
        out.println();
        out.println(scaleLine(r.settings()));
        out.println("sides: " + legend());
        if (r.torch() != null) {
            out.println("PyTorch: " + r.torch().describe());
        }
        String warning = blasWarning(r.torch());
        if (warning != null) {
            out.println();
            out.println(warning);
        }
        out.println();
        out.printf("%-6s %-15s %4s | %-10s | %35s | %-13s %-13s | %s%n", "", "", "", "loss check",
                "training samples/s", "ours(d)/torch", "ours(b)/torch", "peak RSS MB");
        out.printf("%-6s %-15s %4s | %-10s | %8s %8s %8s %8s | %-13s %-13s | %s%n", "model", "profile", "ex", "rel diff",
                "torch", "torch", "ours", "ours", "(paired)", "(paired)", "torch paired / packed, ours b / d");
        out.printf("%-6s %-15s %4s | %-10s | %8s %8s %8s %8s | %-13s %-13s |%n", "", "", "", "", "paired", "packed",
                "(b)", "(d)", "goal " + x(GOAL_D), "goal " + x(GOAL_B));
        for (ProfileResult p : r.profiles()) {
            out.printf(Locale.ROOT, "%-6s %-15s %4d | %-10s | %8s %8s %8s %8s | %-13s %-13s | %s%n", p.model(),
                    p.name(), p.examplesPerStep(), check(p), sps(p, TORCH_PAIRED), sps(p, TORCH_PACKED),
                    sps(p, OURS_B), sps(p, OURS_D), x(p.ratio(OURS_D, TORCH_PAIRED)), x(p.ratio(OURS_B, TORCH_PAIRED)),
                    rss(p, TORCH_PAIRED) + " / " + rss(p, TORCH_PACKED) + ", " + rss(p, OURS_B) + " / "
                            + rss(p, OURS_D));
        }
        for (ProfileResult p : r.profiles()) {
            for (SideResult side : p.sides().values()) {
                if (side.skipped() != null) {
                    out.printf("  %s / %s: %s skipped: %s%n", p.model(), p.name(), side.key(), side.skipped());
                }
            }
        }
        out.println("tokens a step processes (rows x length, padding included): torch_paired pads to the batch's "
                + "longest, ours (b) to a multiple of 64; the packed layouts hold one row:");
        for (ProfileResult p : r.profiles()) {
            out.printf("  %-6s %-15s %s%n", p.model(), p.name(), tokens(p));
        }
        out.println();
        out.println(verdict(r));
    }

    /** Whether every loss check passed and the goals were met, in one line. */
    static String verdict(Result r) {
        int failed = 0;
        int missB = 0;
        int missD = 0;
        for (ProfileResult p : r.profiles()) {
            failed += p.lossCheck().ok() ? 0 : 1;
            missB += p.ratio(OURS_B, TORCH_PAIRED) >= GOAL_B ? 0 : 1;
            missD += p.ratio(OURS_D, TORCH_PAIRED) >= GOAL_D ? 0 : 1;
        }
        int n = r.profiles().size();
        return String.format(Locale.ROOT, "loss check: %s; goals: ours(b)/torch(paired) >= %s on %d of %d, "
                        + "ours(d)/torch(paired) >= %s on %d of %d", failed == 0 ? "passed on every profile"
                        : "FAILED on " + failed + " of " + n + " (those timings do not compare equal work)", x(GOAL_B),
                n - missB, n, x(GOAL_D), n - missD, n);
    }

    /** The JSON object. */
    public static Map<String, Object> json(Result r) {
        List<Object> profiles = new ArrayList<>();
        for (ProfileResult p : r.profiles()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", p.name());
            m.put("model", p.model());
            m.put("loss_check_ok", p.lossCheck().ok());
            m.put("ours_d_over_torch_paired", num(p.ratio(OURS_D, TORCH_PAIRED)));
            m.put("ours_b_over_torch_paired", num(p.ratio(OURS_B, TORCH_PAIRED)));
            m.put("ours_d_over_torch_packed", num(p.ratio(OURS_D, TORCH_PACKED)));
            m.put("loss_max_rel_diff", p.lossCheck().maxRelDiff());
            Map<String, Object> sps = new LinkedHashMap<>();
            Map<String, Object> stepMs = new LinkedHashMap<>();
            Map<String, Object> rss = new LinkedHashMap<>();
            Map<String, Object> loss = new LinkedHashMap<>();
            Map<String, Object> skipped = new LinkedHashMap<>();
            Map<String, Object> trainable = new LinkedHashMap<>();
            for (String k : SIDES) {
                SideResult s = p.sides().get(k);
                sps.put(k, s == null ? null : num(s.samples_per_s()));
                stepMs.put(k, s == null ? null : num(s.step_ms()));
                rss.put(k, s == null ? null : num(s.peak_rss_mb()));
                trainable.put(k, s == null || s.trainable_params() < 0 ? null : s.trainable_params());
                Double l = p.lossCheck().firstLoss().get(k);
                loss.put(k, l == null || !Double.isFinite(l) ? null : l);
                if (s != null && s.skipped() != null) {
                    skipped.put(k, s.skipped());
                }
            }
            m.put("samples_per_s", sps);
            m.put("step_ms_median", stepMs);
            m.put("peak_rss_mb", rss);
            m.put("first_loss", loss);
            m.put("skipped", skipped);
            m.put("trainable_params", trainable);
            m.put("examples_per_step", p.examplesPerStep());
            m.put("tokens_per_step", p.tokensPerStep());
            profiles.add(m);
        }
        Settings s = r.settings();
        Map<String, Object> scale = new LinkedHashMap<>();
        scale.put("label", s.scaleLabel());
        scale.put("length_divisor", s.lengthDivisor());
        scale.put("min_examples_per_step", s.examplesPerStep());
        scale.put("tokens_per_step", s.tokensPerStep());
        scale.put("warmup_steps", s.warmup());
        scale.put("timed_steps", s.steps());
        scale.put("passes", s.repeats());
        scale.put("statistic", "samples/s = examples per step / median of all timed runs");
        scale.put("threads", s.threads());
        scale.put("loss_tolerance", s.lossTolerance());
        scale.put("glibc_tunables", WorkerProcess.mallocTunables());
        scale.put("omp_wait_policy", s.ompWaitPolicy() != null ? s.ompWaitPolicy()
                : System.getenv().getOrDefault("OMP_WAIT_POLICY", "unset"));
        Map<String, Object> models = new LinkedHashMap<>();
        for (Model m : s.models()) {
            models.put(m.name(), m.config().parameterCount());
        }
        scale.put("models_parameters", models);
        scale.put("seconds", Math.round(r.seconds()));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("profiles", profiles);
        root.put("scale", scale);
        root.put("torch", r.torch() == null ? null : r.torch().json());
        root.put("environment", r.environment());
        return root;
    }

    /** The JSON line. */
    public static String jsonLine(Result r) throws IOException {
        return new ObjectMapper().writeValueAsString(json(r));
    }

    /** Writes {@code peers.md}, {@code peers.png} and {@code peers.json} into dir; returns the .md. */
    public static Path writeReport(Result r, Path dir, String machine, String command) throws IOException {
        Files.createDirectories(dir);
        List<SpeedupChart.Panel> panels = new ArrayList<>();
        for (Model m : r.settings().models()) {
            List<String> names = new ArrayList<>();
            List<double[]> values = new ArrayList<>();
            for (ProfileResult p : r.profiles()) {
                if (p.model().equals(m.name())) {
                    names.add(p.name());
                    values.add(new double[]{p.ratio(OURS_B, TORCH_PAIRED), p.ratio(OURS_D, TORCH_PAIRED)});
                }
            }
            panels.add(new SpeedupChart.Panel("model " + m.name() + ": samples/s over PyTorch paired (TRL)", names,
                    values, new double[]{GOAL_B, GOAL_D}));
        }
        SpeedupChart.write(dir.resolve("peers.png"), panels, List.of("ours (b) paired / torch paired",
                "ours (d) shared + packed / torch paired"), List.of(new Color(0x9ecae1), new Color(0x1f77b4)));
        Files.writeString(dir.resolve("peers.json"), jsonLine(r) + "\n");
        StringBuilder md = new StringBuilder();
        String date = ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        md.append("# `prefixshare bench peers`\n\n");
        md.append("Measured ").append(date).append(" on ").append(machine).append(" in ")
                .append(Math.round(r.seconds())).append(" s: `").append(command).append("`.\n\n");
        String warning = blasWarning(r.torch());
        if (warning != null) {
            md.append("**").append(warning).append("**\n\n");
        }
        md.append(scaleLine(r.settings())).append(".\n\n");
        md.append("Sides: ").append(legend()).append(".\n\n");
        if (r.torch() != null) {
            md.append("PyTorch: ").append(r.torch().describe()).append(".\n\n");
        }
        md.append("| model | profile | examples/step | loss check (max rel. diff) | torch paired | torch packed | ours (b) "
                + "| ours (d) | ours(d)/torch(paired) | ours(b)/torch(paired) | peak RSS MB torch paired / packed "
                + "| peak RSS MB ours b / d |\n");
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ProfileResult p : r.profiles()) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s "
                            + "|%n", p.model(), p.name(), p.examplesPerStep(), check(p), sps(p, TORCH_PAIRED),
                    sps(p, TORCH_PACKED), sps(p, OURS_B), sps(p, OURS_D), x(p.ratio(OURS_D, TORCH_PAIRED)),
                    x(p.ratio(OURS_B, TORCH_PAIRED)), rss(p, TORCH_PAIRED), rss(p, TORCH_PACKED), rss(p, OURS_B),
                    rss(p, OURS_D)));
        }
        md.append("\n").append(verdict(r)).append(".\n\n");
        md.append("![ours over PyTorch](peers.png)\n\n");
        md.append("Samples/s: training samples (preference pairs) per second, forward + backward + AdamW update, the "
                + "examples of a step over the median of all timed runs of the side (every side the same statistic, "
                + "the sides taking turns step by step on the same examples). Loss check: the loss of each side's "
                + "first timed step, computed from the same initial weights with the same reference log-probs, "
                + "relative to PyTorch paired's. Peak RSS: the process's VmHWM over the workload (each side a process "
                + "of its own, its peak restarted before each workload).\n\n");
        md.append("Tokens a step processes (rows x length, padding included):\n\n");
        for (ProfileResult p : r.profiles()) {
            md.append("- ").append(p.model()).append(" / ").append(p.name()).append(": ").append(tokens(p));
            for (SideResult side : p.sides().values()) {
                if (side.skipped() != null) {
                    md.append("; ").append(side.key()).append(" skipped: ").append(side.skipped());
                }
            }
            md.append("\n");
        }
        boolean ops = r.profiles().stream().anyMatch(p -> p.sides().values().stream().anyMatch(s -> s.ops() != null));
        if (ops) {
            md.append("\n## Op profiles\n\n");
            for (ProfileResult p : r.profiles()) {
                for (SideResult s : p.sides().values()) {
                    if (s.ops() != null) {
                        md.append("### ").append(p.model()).append(" / ").append(p.name()).append(": ")
                                .append(s.key()).append("\n\n```\n").append(s.ops()).append("\n```\n\n");
                    }
                }
            }
        }
        Path file = dir.resolve("peers.md");
        Files.writeString(file, md.toString());
        return file;
    }

    private static String check(ProfileResult p) {
        double d = p.lossCheck().maxRelDiff();
        String v = Double.isFinite(d) ? String.format(Locale.ROOT, "%.1e", d) : "-";
        return (p.lossCheck().ok() ? "ok " : "FAIL ") + v;
    }

    private static String tokens(ProfileResult p) {
        StringBuilder b = new StringBuilder();
        p.tokensPerStep().forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ').append(v));
        return b.toString();
    }

    private static String sps(ProfileResult p, String k) {
        SideResult s = p.sides().get(k);
        return s == null || !Double.isFinite(s.samples_per_s()) ? "-"
                : String.format(Locale.ROOT, s.samples_per_s() < 10 ? "%.2f" : "%.1f", s.samples_per_s());
    }

    private static String rss(ProfileResult p, String k) {
        SideResult s = p.sides().get(k);
        return s == null || !Double.isFinite(s.peak_rss_mb()) ? "-"
                : String.format(Locale.ROOT, "%.0f", s.peak_rss_mb());
    }
}
