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
        Arrays.sort(ms);
        return reps % 2 == 1 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
    }
}
