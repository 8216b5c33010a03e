package org.prefixshare.train;

import org.nd4j.linalg.schedule.ISchedule;

import java.util.Locale;

/**
 * Learning rate: linear warm-up from 0 over {@code warmupSteps}, then {@code cosine} or {@code linear} decay to 0 at
 * {@code totalSteps}, or {@code constant}. Indexed by optimiser step (ND4J's "iteration").
 */
public record LrSchedule(double peak, int warmupSteps, int totalSteps, Shape shape) implements ISchedule {

    /** The decay after warm-up. */
    public enum Shape {
        COSINE, LINEAR, CONSTANT;

        public static Shape fromName(String name) {
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown schedule '" + name + "'; valid: cosine, linear, constant");
            }
        }
    }

    public LrSchedule {
        if (!(peak > 0) || warmupSteps < 0 || totalSteps <= 0) {
            throw new IllegalArgumentException("schedule needs lr > 0, warmup >= 0, total steps > 0; got lr=" + peak
                    + ", warmup=" + warmupSteps + ", total=" + totalSteps);
        }
    }

    @Override
    public double valueAt(int step, int epoch) {
        if (step < warmupSteps) {
            return peak * (step + 1) / (warmupSteps + 1.0);
        }
        if (shape == Shape.CONSTANT) {
            return peak;
        }
        double progress = Math.min(1.0, (step - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps));
        return shape == Shape.COSINE ? peak * 0.5 * (1 + Math.cos(Math.PI * progress)) : peak * (1 - progress);
    }

    @Override
    public ISchedule clone() {
        return new LrSchedule(peak, warmupSteps, totalSteps, shape);
    }
}
