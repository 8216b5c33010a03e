package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.bench.training.TrainingBenchmark.ProfileResult;
import org.prefixshare.bench.training.TrainingBenchmark.Result;
import org.prefixshare.bench.training.TrainingBenchmark.Settings;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.model.lora.LoraTarget;

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
import java.util.Objects;

/** Terminal table, the JSON line, and the Markdown report of {@code bench training}. */
public final class TrainingReport {

    private static final String[] MODES = {"a", "b", "c", "d", "e"};
    /** (d) with full fine-tuning in a LoRA run. */
    private static final String FULL_D = "d" + TrainingBenchmark.FULL_SUFFIX;

    private TrainingReport() {
    }

    /** One line describing the scale of the run. */
    public static String scaleLine(Settings s) {
        var c = s.model();
        String model = String.format(Locale.ROOT, "model %s (%,d parameters: hidden %d, %d layers, %d heads x %d, %d "
                        + "kv heads, MLP %d, vocab %d, float32)", s.modelName(), c.parameterCount(), c.hiddenSize(),
                c.numLayers(), c.numHeads(), c.headDim(), c.numKvHeads(), c.intermediateSize(), c.vocabSize());
        String perStep = s.tokensPerStep() == 0 ? s.examplesPerStep() + " examples"
                : "at least " + s.examplesPerStep() + " examples and ~" + s.tokensPerStep() + " paired tokens";
        String steps = String.format(Locale.ROOT, "%d warm-up (repeated to >= 2 s, >= 10 s in a JVM's first "
                        + "workload) + %d timed steps of (b), (c) and %d of (d), (e), %s, the fastest run of a step "
                        + "counting ((a): %d warm-up on one example + %d)", s.warmup(), s.steps(), s.packedSteps(),
                s.repeats() == 1 ? "one pass" : s.repeats() + " passes", Math.min(1, s.warmup()),
                s.timedSteps(TrainingMode.A));
        return String.join("; ", "scale: " + s.scaleLabel(),
                "lengths of the paper's profiles / " + fmt(s.lengthDivisor()), model, training(s),
                perStep + " per optimiser step (all modes alike)", "packed modes: " + packing(s.packLength()), steps,
                "samples/s over the median step",
                "speedups: ratio of total times over the timed steps both modes ran ((c)/(b), (d)/(e): same examples, "
                        + "back to back)",
                s.inProcess() ? "modes in this JVM" : "each mode in a JVM of its own for the run",
                "OMP_NUM_THREADS" + (s.inProcess() || s.threads() == 0
                        ? " " + System.getenv().getOrDefault("OMP_NUM_THREADS", "unset") : "=" + s.threads()),
                "GLIBC_TUNABLES" + (s.inProcess() ? " " + Objects.requireNonNullElse(glibcTunables(s), "unset")
                        : "=" + glibcTunables(s)));
    }

    /** What every mode trains: the whole model, or LoRA adapters on a frozen base (and their parameter count). */
    static String training(Settings s) {
        LoraConfig lora = s.lora();
        if (lora == null) {
            return String.format(Locale.ROOT, "full fine-tuning (%,d trainable parameters)", s.model().parameterCount());
        }
        return String.format(Locale.ROOT, "LoRA r %d, alpha %s, on %s, no dropout, frozen float32 base (%,d trainable "
                        + "parameters: the adapters, %.2f%% of the model)%s", lora.r(), fmt(lora.alpha()),
                targets(lora), loraParameters(s), 100.0 * loraParameters(s) / s.model().parameterCount(),
                s.loraVsFull() ? "; (d) also with full fine-tuning (d_full), taking turns with (d) and (e)" : "");
    }

    private static String targets(LoraConfig lora) {
        List<String> names = new ArrayList<>();
        for (LoraTarget t : lora.orderedTargets()) {
            names.add(t.peftName());
        }
        return lora.targets().size() == LoraTarget.values().length ? "all-linear" : String.join(",", names);
    }

    private static long loraParameters(Settings s) {
        return LoraAdapters.parameterCount(s.model(), s.lora());
    }

    /** How the packed modes (d), (e) lay out a step: {@link ModeBatches#ONE_ROW} or rows of a fixed length. */
    static String packing(int packLength) {
        return packLength == ModeBatches.ONE_ROW
                ? "one row per step (the step's documents first-fit-decreasing, padded to a multiple of 64)"
                : "rows of " + packLength + " tokens, first-fit-decreasing";
    }

    /**
     * The glibc malloc settings the modes ran with: this JVM's {@code GLIBC_TUNABLES} in process (null when unset),
     * else the workers' ({@link WorkerProcess#mallocTunables()}).
     */
    static String glibcTunables(Settings s) {
        return s.inProcess() ? System.getenv("GLIBC_TUNABLES") : WorkerProcess.mallocTunables();
    }

    /** The terminal table. */
    public static void printTable(Result r, PrintStream out) {
        out.println();
        out.println(scaleLine(r.settings()));
        out.println("modes: " + modeLegend());
        out.println();
        out.printf("%-15s | %31s | %-22s | %-22s | %-22s | %s%n", "", "training samples/s",
                "(c)/(b) shared", "(d)/(b) shared+packed", "(d)/(e) packed", "peak RSS MB");
        out.printf("%-15s | %5s %6s %6s %6s %6s | %6s %6s %6s | %6s %6s %6s | %6s %6s %6s | %s%n", "profile",
                "a", "b", "c", "d", "e", "ours", "ideal", "paper", "ours", "ideal", "paper", "ours", "ideal",
                "paper", "b / d");
        for (ProfileResult p : r.profiles()) {
            out.printf(Locale.ROOT, "%-15s | %5s %6s %6s %6s %6s | %6s %6s %6s | %6s %6s %6s | %6s %6s %6s | %s%n",
                    p.name(), sps(p, "a"), sps(p, "b"), sps(p, "c"), sps(p, "d"), sps(p, "e"),
                    x(p.speedup_shared()), x(p.ideal_shared()), x(p.paper_shared()),
                    x(p.speedup_shared_packed()), x(p.ideal_shared_packed()), "-",
                    x(p.speedup_packed_vs_paired_packed()), x(p.ideal_packed_vs_paired_packed()),
                    x(p.paper_packed()), rss(p, "b") + " / " + rss(p, "d"));
        }
        if (r.settings().loraVsFull()) {
            out.println();
            out.println("LoRA against full fine-tuning, mode (d), taking turns step by step on the same examples:");
            for (ProfileResult p : r.profiles()) {
                out.printf(Locale.ROOT, "  %-15s %s%n", p.name(), loraVsFull(p));
            }
        }
        out.println();
        out.println("ideal = tokens processed incl. padding (baseline / ours). Attention-aware cost-model ideal "
                + "(FLOPs of matmuls per token + attention per visible pair), attention share of (b), tokens/step:");
        for (ProfileResult p : r.profiles()) {
            out.printf(Locale.ROOT, "  %-15s cost-model ideal (c)/(b) %s (d)/(b) %s (d)/(e) %s; attention %4.1f%% of "
                            + "(b); %d examples/step; tokens/step b %s c %s d %s e %s; packed: %s; (a)->(b) %s%n",
                    p.name(), x(p.cost_ideal_shared()), x(p.cost_ideal_shared_packed()),
                    x(p.cost_ideal_packed_vs_paired_packed()), 100 * p.attention_share_b(), p.examplesPerStep(),
                    tok(p, "b"), tok(p, "c"), tok(p, "d"), tok(p, "e"), packing(p.packLength()),
                    x(ratio(p, "b", "a")));
        }
        out.println("Expected with the fixed step cost F (a step of one 8-token row, which no layout makes cheaper): "
                + "(F(baseline) + cost-model ideal x (mean step(ours) - F(ours))) / mean step(ours):");
        for (ProfileResult p : r.profiles()) {
            out.printf(Locale.ROOT, "  %-15s F b %s c %s d %s e %s ms; expected (c)/(b) %s (d)/(b) %s (d)/(e) %s%n",
                    p.name(), fixedMs(p, "b"), fixedMs(p, "c"), fixedMs(p, "d"), fixedMs(p, "e"),
                    x(p.expected_shared()), x(p.expected_shared_packed()),
                    x(p.expected_packed_vs_paired_packed()));
        }
    }

    /** (d) with LoRA against (d) with full fine-tuning, one line. */
    static String loraVsFull(ProfileResult p) {
        return String.format(Locale.ROOT, "samples/s LoRA %s, full %s: LoRA/full %s; trainable parameters %s / %s; "
                        + "peak RSS MB %s / %s", sps(p, "d"), sps(p, FULL_D), x(p.speedup_lora_over_full()),
                params(p, "d"), params(p, FULL_D), rss(p, "d"), rss(p, FULL_D));
    }

    /** "(a) ..., (b) ...". */
    static String modeLegend() {
        List<String> l = new ArrayList<>();
        for (TrainingMode m : TrainingMode.values()) {
            l.add("(" + m.key() + ") " + m.description());
        }
        return String.join("; ", l);
    }

    /** The JSON object. */
    public static Map<String, Object> json(Result r) {
        List<Object> profiles = new ArrayList<>();
        for (ProfileResult p : r.profiles()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", p.name());
            m.put("ideal_shared", num(p.ideal_shared()));
            m.put("ideal_shared_packed", num(p.ideal_shared_packed()));
            m.put("ideal_packed_vs_paired_packed", num(p.ideal_packed_vs_paired_packed()));
            m.put("speedup_shared", num(p.speedup_shared()));
            m.put("speedup_shared_packed", num(p.speedup_shared_packed()));
            m.put("speedup_packed_vs_paired_packed", num(p.speedup_packed_vs_paired_packed()));
            Map<String, Object> sps = new LinkedHashMap<>();
            Map<String, Object> mem = new LinkedHashMap<>();
            Map<String, Object> fixed = new LinkedHashMap<>();
            Map<String, Object> trainable = new LinkedHashMap<>();
            for (String k : MODES) {
                ModeResult mr = p.modes().get(k);
                sps.put(k, mr == null ? null : num(mr.samples_per_s()));
                mem.put(k, mr == null ? null : num(mr.peakMemMb()));
                fixed.put(k, mr == null ? null : num(mr.fixed_step_ms()));
                trainable.put(k, mr == null ? null : mr.trainable_params());
            }
            m.put("samples_per_s", sps);
            m.put("peak_mem_mb", mem);
            m.put("fixed_step_ms", fixed);
            m.put("trainable_params", trainable);
            if (r.settings().loraVsFull()) {
                ModeResult full = p.modes().get(FULL_D);
                m.put("lora_over_full_d", num(p.speedup_lora_over_full()));
                Map<String, Object> f = new LinkedHashMap<>();
                f.put("samples_per_s", full == null ? null : num(full.samples_per_s()));
                f.put("peak_mem_mb", full == null ? null : num(full.peakMemMb()));
                f.put("trainable_params", full == null ? null : full.trainable_params());
                m.put(FULL_D, f);
            }
            m.put("cost_ideal_packed_vs_paired_packed", num(p.cost_ideal_packed_vs_paired_packed()));
            m.put("expected_shared", num(p.expected_shared()));
            m.put("expected_shared_packed", num(p.expected_shared_packed()));
            m.put("expected_packed_vs_paired_packed", num(p.expected_packed_vs_paired_packed()));
            profiles.add(m);
        }
        Settings s = r.settings();
        Map<String, Object> scale = new LinkedHashMap<>();
        scale.put("label", s.scaleLabel());
        scale.put("length_divisor", s.lengthDivisor());
        scale.put("model", s.modelName());
        scale.put("parameters", s.model().parameterCount());
        Map<String, Object> lora = null;
        if (s.lora() != null) {
            lora = new LinkedHashMap<>();
            lora.put("r", s.lora().r());
            lora.put("alpha", s.lora().alpha());
            lora.put("targets", targets(s.lora()));
            lora.put("base", "frozen, float32");
            lora.put("trainable_params", loraParameters(s));
            lora.put("vs_full_fine_tuning_d", s.loraVsFull());
        }
        scale.put("lora", lora);
        scale.put("min_examples_per_step", s.examplesPerStep());
        scale.put("tokens_per_step", s.tokensPerStep());
        Map<String, Object> perProfile = new LinkedHashMap<>();
        r.profiles().forEach(p -> perProfile.put(p.name(), p.examplesPerStep()));
        scale.put("examples_per_step", perProfile);
        scale.put("warmup_steps", s.warmup());
        scale.put("timed_steps", s.steps());
        scale.put("timed_steps_packed", s.packedSteps());
        scale.put("runs_per_timed_step", s.repeats());
        scale.put("packing", packing(s.packLength()));
        scale.put("speedup", "ratio of total times over the timed steps both modes ran");
        scale.put("peak_mem", s.inProcess() ? "sampled process RSS peak over the timed steps (modes share one JVM)"
                : "peak RSS (VmHWM) of the mode's own JVM over the workload");
        scale.put("isolated_jvm_per_mode", !s.inProcess());
        scale.put("glibc_tunables", glibcTunables(s));
        scale.put("seconds", Math.round(r.seconds()));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("profiles", profiles);
        root.put("scale", scale);
        return root;
    }

    /** The JSON line. */
    public static String jsonLine(Result r) throws IOException {
        return new ObjectMapper().writeValueAsString(json(r));
    }

    /** Writes {@code training.md} and {@code training.png} (and {@code training.json}) into dir; returns the .md. */
    public static Path writeReport(Result r, Path dir, String machine) throws IOException {
        Files.createDirectories(dir);
        Path png = dir.resolve("training.png");
        SpeedupChart.write(r, png);
        Files.writeString(dir.resolve("training.json"), jsonLine(r) + "\n");
        StringBuilder md = new StringBuilder();
        String date = ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        md.append("# `prefixshare bench training`\n\n");
        md.append("Measured ").append(date).append(" on ").append(machine).append(" in ")
                .append(Math.round(r.seconds())).append(" s.\n\n");
        md.append(scaleLine(r.settings())).append(".\n\n");
        md.append("Modes: ").append(modeLegend()).append(".\n\n");
        md.append("| profile | a | b | c | d | e | (c)/(b) | ideal | paper | (d)/(b) | ideal | (d)/(e) | ideal | paper "
                + "| peak RSS MB b / d | peak outside Java heap MB b / d |\n");
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ProfileResult p : r.profiles()) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
                            + "| %s | %s / %s | %s / %s |%n", p.name(), sps(p, "a"), sps(p, "b"), sps(p, "c"),
                    sps(p, "d"), sps(p, "e"), x(p.speedup_shared()), x(p.ideal_shared()), x(p.paper_shared()),
                    x(p.speedup_shared_packed()), x(p.ideal_shared_packed()),
                    x(p.speedup_packed_vs_paired_packed()), x(p.ideal_packed_vs_paired_packed()),
                    x(p.paper_packed()), rss(p, "b"), rss(p, "d"), mem(p, "b"), mem(p, "d")));
        }
        if (r.settings().loraVsFull()) {
            md.append("\nLoRA against full fine-tuning, mode (d), taking turns step by step on the same examples (LoRA/full: "
                    + "the ratio of their total times over the timed steps):\n\n");
            md.append("| profile | (d) LoRA samples/s | (d) full samples/s | LoRA/full | trainable parameters LoRA / full "
                    + "| peak RSS MB LoRA / full |\n|---|---|---|---|---|---|\n");
            for (ProfileResult p : r.profiles()) {
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s / %s | %s / %s |%n", p.name(),
                        sps(p, "d"), sps(p, FULL_D), x(p.speedup_lora_over_full()), params(p, "d"),
                        params(p, FULL_D), rss(p, "d"), rss(p, FULL_D)));
            }
        }
        md.append("\nSamples/s: training samples (preference pairs) per second, forward + backward + Adam update, "
                + "examples per step over the median timed step (the figure over all timed steps' total time is in the "
                + "JSON as samples_per_s_total). Speedups: the ratio of the two modes' total times over the same "
                + "timed steps, i.e. of their throughputs over the run, as the ideal is the ratio of their tokens over "
                + "those steps. (c)/(b) and (d)/(e) ran each step's examples back to back, so a change of the "
                + "machine's speed hits both alike; (d)/(b) ran in different groups. Steps differ in size (their "
                + "examples differ in length), so a median of per-step speedups would estimate a typical step, not the "
                + "run. Ideal: ratio of tokens processed, padding included. Paper: Wang & Hegde (arXiv 2410.20305), "
                + "Mistral-7B on H100, FlashAttention-3 baselines.\n\n");
        md.append("![speedup vs ideal vs paper](training.png)\n\n");
        md.append("## Attention-aware ideal and workloads\n\n");
        md.append("Sharing removes the prompt's second copy of tokens, but each response still attends to the whole "
                + "prompt, so attention's visible area shrinks less than the token count. The cost-model ideal "
                + "weights tokens with the model's matmul FLOPs per token and visible (query, key) pairs with "
                + "attention FLOPs per pair.\n\n");
        md.append("| profile | workload | median overall / ratio (scaled) | examples/step | packed rows | cost-model "
                + "ideal (c)/(b) | (d)/(b) | (d)/(e) | attention share of (b) | tokens/step b / c / d / e | fixed step "
                + "ms b / c / d / e | expected (c)/(b) | (d)/(b) | (d)/(e) |\n");
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ProfileResult p : r.profiles()) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %.0f / %.2f | %d | %s | %s | %s | %s | %.1f%% | %s / %s"
                            + " / %s / %s | %s / %s / %s / %s | %s | %s | %s |%n", p.name(), p.origin(),
                    p.stats().medianOverall(), p.stats().medianRatio(), p.examplesPerStep(), packing(p.packLength()),
                    x(p.cost_ideal_shared()), x(p.cost_ideal_shared_packed()),
                    x(p.cost_ideal_packed_vs_paired_packed()), 100 * p.attention_share_b(), tok(p, "b"),
                    tok(p, "c"), tok(p, "d"), tok(p, "e"), fixedMs(p, "b"), fixedMs(p, "c"), fixedMs(p, "d"),
                    fixedMs(p, "e"), x(p.expected_shared()), x(p.expected_shared_packed()),
                    x(p.expected_packed_vs_paired_packed())));
        }
        md.append("\nFixed step ms: the median step on one example of one prompt token and one token per response "
                + "(one 8-token row), after the warm-up: what every step costs whatever its tokens (SameDiff's "
                + "scheduling of the step's ops, Adam, work the size of the weights). Expected: the speedup the "
                + "cost-model ideal allows once that fixed part, which no layout saves, is added to both modes' steps: "
                + "(F(baseline) + ideal x (mean step(ours) - F(ours))) / mean step(ours).\n");
        md.append("\nPeak memory: the process's peak RSS (VmHWM) over the workload when each mode ran in a JVM of its "
                + "own (else the RSS sampled every ~1 ms over the timed steps); \"outside Java heap\" is the sampled "
                + "peak of RSS minus the committed Java heap, where ND4J's arrays live. A mode's JVM serves every "
                + "workload of the run; before each one it frees the previous workload's memory and restarts the peak. "
                + "What stays resident beyond a fresh JVM's size (native memory that the next workload mostly reuses) "
                + "is included, not subtracted. A `System.gc()` runs between steps, outside the timing, so the peaks "
                + "are one step's working set rather than uncollected garbage.\n");
        Path file = dir.resolve("training.md");
        Files.writeString(file, md.toString());
        return file;
    }

    // ------------------------------------------------------------------------------------------- formatting

    static double ratio(ProfileResult p, String faster, String baseline) {
        ModeResult f = p.modes().get(faster);
        ModeResult b = p.modes().get(baseline);
        return f == null || b == null ? Double.NaN : f.samples_per_s() / b.samples_per_s();
    }

    static Object num(double v) {
        return Double.isFinite(v) ? Math.round(v * 1e4) / 1e4 : null;
    }

    static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    static String x(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2fx", v) : "-";
    }

    private static String sps(ProfileResult p, String k) {
        ModeResult m = p.modes().get(k);
        return m == null ? "-" : String.format(Locale.ROOT, m.samples_per_s() < 10 ? "%.2f" : "%.1f",
                m.samples_per_s());
    }

    private static String mem(ProfileResult p, String k) {
        ModeResult m = p.modes().get(k);
        return m == null ? "-" : String.format(Locale.ROOT, "%.0f", m.offheap_peak_mb());
    }

    private static String rss(ProfileResult p, String k) {
        ModeResult m = p.modes().get(k);
        return m == null ? "-" : String.format(Locale.ROOT, "%.0f", m.peakMemMb());
    }

    private static String params(ProfileResult p, String k) {
        ModeResult m = p.modes().get(k);
        return m == null ? "-" : String.format(Locale.ROOT, "%,d", m.trainable_params());
    }

    private static String fixedMs(ProfileResult p, String k) {
        ModeResult m = p.modes().get(k);
        return m == null || !Double.isFinite(m.fixed_step_ms()) ? "-"
                : String.format(Locale.ROOT, "%.1f", m.fixed_step_ms());
    }

    private static String tok(ProfileResult p, String k) {
        StepCost c = p.costs().get(k);
        return c == null ? "-" : String.format(Locale.ROOT, "%d", c.rowTokens() / Math.max(1, c.steps()));
    }
}
