package org.prefixshare.train;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Per-step metrics as JSON lines ({@code metrics.jsonl}, TRL's metric names) and a live progress line on the
 * terminal (a redrawn bar when the console is interactive, a line every few steps otherwise).
 */
final class TrainLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;
    private final PrintStream terminal;
    private final boolean interactive;
    private final int totalSteps;

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

    /** Redraws (or prints) the progress line of a training step. */
    void progress(int step, Map<String, Object> m) {
        if (terminal == null) {
            return;
        }
        int width = 24;
        int filled = (int) Math.round(width * step / (double) Math.max(1, totalSteps));
        String line = String.format("[%s%s] step %d/%d loss %.4f acc %.2f margin %.3f | %.0f tok/s %.1f samples/s",
                "#".repeat(filled), ".".repeat(width - filled), step, totalSteps, num(m, "loss"),
                num(m, "rewards/accuracies"), num(m, "rewards/margins"), num(m, "tokens_per_s"),
                num(m, "samples_per_s"));
        if (interactive) {
            terminal.print("\r" + line);
            if (step == totalSteps) {
                terminal.println();
            }
        } else if (step == 1 || step % 10 == 0 || step == totalSteps) {
            terminal.println(line);
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
