package org.prefixshare.loss;

/**
 * The reward baseline {@code delta} of {@link LossType#BCO_PAIR}: TRL's {@code RunningMoments} mean (initial mean 0,
 * count 1e-24), updated once per step with the batch's mean reward
 * {@code mean(concat(beta * (pi_c - ref_c), beta * (pi_r - ref_r)))} (equal to the average of the
 * {@code rewards/chosen} and {@code rewards/rejected} metrics, since both have P entries).
 *
 * <p>TRL updates with the current batch before computing the loss, so the loss uses
 * {@code delta = (mean * count + batchMean) / (count + 1)} with {@code batchMean} detached. To reproduce that exactly,
 * the trainer needs the batch's mean reward before the step (e.g. from a forward pass) and feeds
 * {@link #update(double)}'s result to the delta placeholder. A trainer that feeds {@link #mean()} and updates after the
 * step from the step's metrics lags TRL by one batch; both are valid baselines, but only the first equals TRL.
 *
 * <p>Not thread-safe. Save {@link #mean()} and {@link #count()} in checkpoints and {@link #restore} them.
 */
public final class BcoRunningMean {

    private double mean;
    private double count;

    /** TRL's initial state: mean 0, count 1e-24. */
    public BcoRunningMean() {
        this(0.0, 1e-24);
    }

    private BcoRunningMean(double mean, double count) {
        this.mean = mean;
        this.count = count;
    }

    /** A running mean restored from a checkpoint. */
    public static BcoRunningMean restore(double mean, double count) {
        if (!Double.isFinite(mean) || !(count > 0) || !Double.isFinite(count)) {
            throw new IllegalArgumentException("BcoRunningMean.restore: need finite mean and count > 0, got mean="
                    + mean + " count=" + count);
        }
        return new BcoRunningMean(mean, count);
    }

    /**
     * Folds in one batch's mean reward (one observation, as TRL does) and returns the new mean: the {@code delta}
     * TRL uses for that batch.
     */
    public double update(double batchMeanReward) {
        if (!Double.isFinite(batchMeanReward)) {
            throw new IllegalArgumentException("BCO batch mean reward must be finite, got " + batchMeanReward);
        }
        double total = count + 1.0;
        mean += (batchMeanReward - mean) / total;
        count = total;
        return mean;
    }

    /** The current mean. */
    public double mean() {
        return mean;
    }

    /** The number of observations folded in (plus TRL's initial 1e-24). */
    public double count() {
        return count;
    }
}
