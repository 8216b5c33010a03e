package org.prefixshare.bench;

import java.util.Arrays;

/** Wall-clock timing for benchmarks: warm-up runs, then the median of timed runs. */
public final class Timing {

    private Timing() {
    }

    /** Median milliseconds of {@code reps} runs after {@code warmup} untimed runs. */
    public static double medianMillis(Runnable work, int warmup, int reps) {
        for (int i = 0; i < warmup; i++) {
            work.run();
        }
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            work.run();
            ms[i] = (System.nanoTime() - start) / 1e6;
        }
        return median(ms);
    }

    /**
     * Speedup of one workload over another that ran the same inputs back to back, round by round: the ratio of the
     * total times, {@code sum(baselineMs) / sum(fasterMs)}, i.e. of the throughputs over all rounds. Rounds may
     * differ in size (a training step's examples pack into 3 rows or 5), so this is the figure that matches a ratio
     * of work summed over the same rounds; a median of per-round ratios estimates a typical round instead (bench
     * training's Capybara steps have token ratios from 1.25 to 1.67: their median is 1.33, over the run 1.375).
     */
    public static double totalRatio(double[] baselineMs, double[] fasterMs) {
        if (baselineMs.length != fasterMs.length || baselineMs.length == 0) {
            throw new IllegalArgumentException("paired timings need the same number (> 0) of rounds, got "
                    + baselineMs.length + " and " + fasterMs.length);
        }
        double b = 0;
        double f = 0;
        for (int i = 0; i < baselineMs.length; i++) {
            b += baselineMs[i];
            f += fasterMs[i];
        }
        return b / f;
    }

    /** Median of the values (the array is not changed). */
    public static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
