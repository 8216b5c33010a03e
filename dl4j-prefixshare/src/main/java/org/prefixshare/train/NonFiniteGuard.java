package org.prefixshare.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;

import java.util.Map;

/**
 * Keeps non-finite numbers out of the weights, the way PyTorch's {@code GradScaler} skips a step whose gradients hold
 * an infinity or a NaN: a step whose loss or global gradient norm is not finite is not applied (no weight, optimiser
 * state or running-mean change), only counted ({@code train/skipped_steps}); {@code maxConsecutive} skipped steps in
 * a row stop the run ({@link TrainingHaltedException}, naming the step and what was non-finite). It also warns, once,
 * when the loss grows past {@value #DIVERGENCE_FACTOR}x the first loss (divergence without NaN).
 *
 * <p>Skipped steps still advance the step counter, the learning-rate schedule and the data: a resumed run repeats
 * exactly what an uninterrupted one does.
 */
public final class NonFiniteGuard {

    /** Skipped steps in a row that stop a run by default. */
    public static final int DEFAULT_MAX_CONSECUTIVE = 10;
    /** A loss this many times its first value (in magnitude) is warned about. */
    public static final double DIVERGENCE_FACTOR = 100;

    /**
     * What a checkpoint keeps of this guard, so a resumed run counts on.
     *
     * @param skipped     steps skipped so far
     * @param consecutive steps skipped in a row up to now
     * @param firstLoss   the first finite loss (NaN until there is one)
     */
    public record State(long skipped, int consecutive, double firstLoss) {
        /** A run's start. */
        public static final State FRESH = new State(0, 0, Double.NaN);
    }

    private final int maxConsecutive;
    private long skipped;
    private int consecutive;
    private double firstLoss = Double.NaN;
    private boolean warned;
    private String lastWhat;

    /** A guard that stops the run after {@code maxConsecutive} skipped steps in a row (at least 1). */
    public NonFiniteGuard(int maxConsecutive) {
        if (maxConsecutive < 1) {
            throw new IllegalArgumentException("max skipped steps in a row must be at least 1, got " + maxConsecutive);
        }
        this.maxConsecutive = maxConsecutive;
    }

    /** What is not finite of a step's loss and gradient norm ("loss NaN", "gradient norm Infinity", ...), or null. */
    public static String nonFinite(double loss, double gradNorm) {
        if (Double.isFinite(loss) && Double.isFinite(gradNorm)) {
            return null;
        }
        if (!Double.isFinite(loss) && !Double.isFinite(gradNorm)) {
            return "loss " + loss + " and gradient norm " + gradNorm;
        }
        return Double.isFinite(loss) ? "gradient norm " + gradNorm : "loss " + loss;
    }

    /** Counts a skipped step; {@code what} comes from {@link #nonFinite}. */
    public void skipped(String what) {
        skipped++;
        consecutive++;
        lastWhat = what;
    }

    /**
     * Stops the run ({@link TrainingHaltedException}) when the last {@code maxConsecutive} steps were all skipped;
     * {@code step} (1-based) is the current one.
     */
    public void haltIfTooMany(int step) {
        if (consecutive >= maxConsecutive) {
            throw new TrainingHaltedException(step, String.format("training stopped at step %d: %s, %d steps in a "
                    + "row (--max-skipped-steps %d); those steps changed no weight. Lower --lr (or --max-grad-norm) "
                    + "and resume from the last checkpoint, or start again in another --output", step, lastWhat,
                    consecutive, maxConsecutive));
        }
    }

    /**
     * Records an applied step's loss; returns the divergence warning the first time the loss exceeds
     * {@value #DIVERGENCE_FACTOR}x the first loss, else null.
     */
    public String applied(int step, double loss) {
        consecutive = 0;
        if (Double.isNaN(firstLoss)) {
            firstLoss = loss;
            return null;
        }
        if (!warned && firstLoss != 0 && Math.abs(loss) > DIVERGENCE_FACTOR * Math.abs(firstLoss)) {
            warned = true;
            return String.format("warning: the loss at step %d (%.4g) is over %.0fx its first value (%.4g): the run "
                    + "may be diverging; a lower --lr may help", step, loss, DIVERGENCE_FACTOR, firstLoss);
        }
        return null;
    }

    /** Steps skipped so far. */
    public long skippedSteps() {
        return skipped;
    }

    /** This guard's counts, for a checkpoint. */
    public State state() {
        return new State(skipped, consecutive, firstLoss);
    }

    /** Continues from a checkpoint's counts. */
    public void restore(State s) {
        skipped = s.skipped();
        consecutive = s.consecutive();
        firstLoss = s.firstLoss();
    }

    /** The name of the first array holding a NaN or an infinity, or null when every value is finite. */
    public static String firstNonFinite(Map<String, INDArray> arrays) {
        for (Map.Entry<String, INDArray> e : arrays.entrySet()) {
            if (!allFinite(e.getValue())) {
                return e.getKey();
            }
        }
        return null;
    }

    /** True when no element is NaN or infinite (one native reduction). */
    public static boolean allFinite(INDArray a) {
        if (!a.dataType().isFPType() || a.isEmpty()) {
            return true;
        }
        return Nd4j.getExecutioner().exec(new MatchCondition(a, Conditions.isFinite())).getLong(0) == a.length();
    }
}
