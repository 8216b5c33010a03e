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

    /** Median of the values (the array is not changed). */
    public static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
