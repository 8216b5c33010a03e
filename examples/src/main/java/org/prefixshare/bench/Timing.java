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
     * Speedup of one workload over another that ran the same inputs back to back, round by round: the median over
     * rounds of {@code baselineMs[i] / fasterMs[i]}. Pairing cancels what the rounds' inputs and the machine's speed
     * at that moment have in common; the median then drops the rounds that a page-fault burst or a JIT compilation
     * slowed on one side only. A ratio of two separate medians compares different rounds and keeps both effects.
     */
    public static double pairedSpeedup(double[] baselineMs, double[] fasterMs) {
        if (baselineMs.length != fasterMs.length || baselineMs.length == 0) {
            throw new IllegalArgumentException("paired timings need the same number (> 0) of rounds, got "
                    + baselineMs.length + " and " + fasterMs.length);
        }
        double[] r = new double[baselineMs.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = baselineMs[i] / fasterMs[i];
        }
        return median(r);
    }

    /** Median of the values (the array is not changed). */
    public static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
