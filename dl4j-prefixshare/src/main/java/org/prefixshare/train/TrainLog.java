package org.prefixshare.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.io.Progress;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Per-step metrics as JSON lines ({@code metrics.jsonl}, TRL's metric names) and a live progress line on the
 * terminal (a redrawn bar when the console is interactive, a line every few steps otherwise) with the elapsed and
 * the estimated remaining time and the count of skipped steps. On resume the log is first cut back to the
 * checkpoint's step ({@link #truncate}), so no step appears twice.
 */
final class TrainLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;
    private final PrintStream terminal;
    private final boolean interactive;
    private final int totalSteps;
    private final long startNanos = System.nanoTime();
    private int firstStep = -1;
    private double lastPrinted;

    TrainLog(Path dir, PrintStream terminal, int totalSteps) {
        try {
            Files.createDirectories(dir);
            this.out = Files.newBufferedWriter(dir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("could not open " + dir.resolve("metrics.jsonl"), e);
        }
        this.terminal = terminal;
        this.interactive = System.console() != null;
        this.totalSteps = totalSteps;
    }

    /** Appends one JSON line. */
    void write(Map<String, Object> metrics) {
        try {
            out.write(JSON.writeValueAsString(metrics));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write metrics", e);
        }
    }

    /**
     * Cuts {@code dir/metrics.jsonl} back to the lines of steps up to {@code step} (the checkpoint a run resumes
     * from; 0: a fresh start empties it). Lines past it, and a line a crash left half written, are dropped.
     */
    static void truncate(Path dir, int step) {
        Path file = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(file)) {
            return;
        }
        try {
            List<String> keep = new ArrayList<>();
            boolean dropped = false;
            for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                JsonNode n = null;
                try {
                    n = JSON.readTree(l);
                } catch (IOException ignored) {
                    // a line cut short by a crash
                }
                if (n != null && n.path("step").isInt() && n.get("step").asInt() <= step) {
                    keep.add(l);
                } else {
                    dropped = true;
                }
            }
            if (dropped) {
                Path tmp = file.resolveSibling("metrics.jsonl.tmp");
                Files.write(tmp, keep, StandardCharsets.UTF_8);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not cut " + file + " back to step " + step + ": " + e.getMessage(),
                    e);
        }
    }

    /** Redraws (or prints) the progress line of a training step. */
    void progress(int step, Map<String, Object> m) {
        if (terminal == null) {
            return;
        }
        if (firstStep < 0) {
            firstStep = step - 1;
        }
        int width = 24;
        int filled = (int) Math.round(width * step / (double) Math.max(1, totalSteps));
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        double remaining = elapsed / Math.max(1, step - firstStep) * (totalSteps - step);
        double skipped = num(m, "train/skipped_steps");
        String line = String.format("[%s%s] step %d/%d loss %.4f acc %.2f margin %.3f | %.0f tok/s %.1f samples/s"
                        + " | %s elapsed, ~%s left%s",
                "#".repeat(filled), ".".repeat(width - filled), step, totalSteps, num(m, "loss"),
                num(m, "rewards/accuracies"), num(m, "rewards/margins"), num(m, "tokens_per_s"),
                num(m, "samples_per_s"), Progress.duration(elapsed), Progress.duration(remaining),
                skipped > 0 ? String.format(" | skipped %.0f", skipped) : "");
        if (interactive) {
            terminal.print("\r" + line);
            if (step == totalSteps) {
                terminal.println();
            }
        } else if (step == 1 || step % 10 == 0 || step == totalSteps || elapsed - lastPrinted >= 30) {
            terminal.println(line); // every 10 steps, or every 30 s when steps are slow
            lastPrinted = elapsed;
        }
    }

    /** Prints an evaluation line. */
    void eval(int step, Map<String, Object> m) {
        if (terminal != null) {
            if (interactive) {
                terminal.println();
            }
            terminal.printf("eval @ step %d: loss %.4f rewards/accuracies %.3f rewards/margins %.3f%n", step,
                    num(m, "eval_loss"), num(m, "eval_rewards/accuracies"), num(m, "eval_rewards/margins"));
        }
    }

    private static double num(Map<String, Object> m, String k) {
        Object v = m.get(k);
        return v instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    static Map<String, Object> ordered() {
        return new LinkedHashMap<>();
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
