package org.prefixshare.cli;

import java.io.PrintWriter;
import java.util.function.IntConsumer;

/**
 * A progress line on stderr for long work: what, k of n, rate, elapsed and remaining time, at most every few seconds
 * (and always at the end), so a command's stdout (its {@code --json} line) stays clean.
 */
final class Progress implements IntConsumer {

    private static final long EVERY_NANOS = 5_000_000_000L;

    private final PrintWriter err;
    private final String what;
    private final int total;
    private final long start = System.nanoTime();
    private long lastPrint = start;

    Progress(PrintWriter err, String what, int total) {
        this.err = err;
        this.what = what;
        this.total = total;
    }

    @Override
    public void accept(int done) {
        long now = System.nanoTime();
        if (done < total && now - lastPrint < EVERY_NANOS) {
            return;
        }
        lastPrint = now;
        double elapsed = (now - start) / 1e9;
        double rate = done / Math.max(elapsed, 1e-9);
        double remaining = rate > 0 ? (total - done) / rate : Double.NaN;
        err.printf("%s: %d/%d (%.2f/s), elapsed %s, remaining %s%n", what, done, total, rate, clock(elapsed),
                clock(remaining));
        err.flush();
    }

    /** Seconds as h:mm:ss (or m:ss). */
    static String clock(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds)) {
            return "?";
        }
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
