package org.prefixshare.io;

import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Progress of a long job as lines for a person ({@code "bench training: HH-RLHF (2/6) (d)+(e) pass 1/2 step 3/20 |
 * 41% | 5m10s elapsed, ~7m25s left"}): at most one line every {@code interval}, and always the first and the last;
 * {@link #quietWhenShort()} prints nothing for a job that ends within the first interval.
 * The remaining time is the elapsed time scaled by the work left, so work units should cost about the same.
 * Lines go to a sink (standard error for the command line, a logger in the library), never to standard output,
 * whose last line may be a command's {@code --json} summary.
 */
public final class Progress {

    /** A progress that prints nothing. */
    public static final Progress NONE = new Progress("", 1, line -> { }, 0, System::nanoTime);

    private final String label;
    private final Consumer<String> sink;
    private final long intervalNanos;
    private final LongSupplier clock;
    private final long start;
    private long total;
    private long done;
    private long lastPrint = Long.MIN_VALUE;
    private boolean quietWhenShort;

    /**
     * @param label           what is running ("bench training")
     * @param total           work units of the whole job (steps, examples, ...)
     * @param sink            where lines go
     * @param intervalSeconds least seconds between two lines
     */
    public Progress(String label, long total, Consumer<String> sink, double intervalSeconds) {
        this(label, total, sink, intervalSeconds, System::nanoTime);
    }

    Progress(String label, long total, Consumer<String> sink, double intervalSeconds, LongSupplier clock) {
        this.label = label;
        this.total = Math.max(1, total);
        this.sink = sink;
        this.intervalNanos = (long) (intervalSeconds * 1e9);
        this.clock = clock;
        this.start = clock.getAsLong();
    }

    /** Lines on standard error, one at most every 10 seconds. */
    public static Progress toStderr(String label, long total) {
        return new Progress(label, total, line -> {
            System.err.println(line);
            System.err.flush();
        }, 10);
    }

    /** No line until the first interval has passed (a job shorter than that prints nothing). */
    public Progress quietWhenShort() {
        quietWhenShort = true;
        lastPrint = start;
        return this;
    }

    /** Changes the job's size (work found to be more or less than first thought). */
    public void total(long units) {
        total = Math.max(1, units);
    }

    /** Reports what is being done now, without finishing any work (printed if the interval has passed). */
    public void status(String detail) {
        advance(0, detail);
    }

    /** Counts {@code units} of work done; {@code detail} says where the job is. */
    public void advance(long units, String detail) {
        done += units;
        long now = clock.getAsLong();
        boolean printedBefore = !quietWhenShort || lastPrint != start;
        if (lastPrint == Long.MIN_VALUE || now - lastPrint >= intervalNanos || (done >= total && printedBefore)) {
            lastPrint = now;
            sink.accept(line(detail, now));
        }
    }

    /** Work units done. */
    public long done() {
        return done;
    }

    String line(String detail, long now) {
        double elapsed = (now - start) / 1e9;
        StringBuilder b = new StringBuilder(label);
        if (detail != null && !detail.isEmpty()) {
            b.append(": ").append(detail);
        }
        long pct = Math.min(100, Math.round(100.0 * done / total));
        b.append(" | ").append(pct).append("% | ").append(duration(elapsed)).append(" elapsed");
        if (done > 0 && done < total) {
            b.append(", ~").append(duration(elapsed * (total - done) / done)).append(" left");
        }
        return b.toString();
    }

    /** "42s", "3m05s", "2h04m". */
    public static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return String.format("%dm%02ds", s / 60, s % 60);
        }
        return String.format("%dh%02dm", s / 3600, s / 60 % 60);
    }
}
