package org.prefixshare.train;

/**
 * A run stopped because training itself went wrong (non-finite losses or gradients too many steps in a row,
 * non-finite weights), as opposed to bad input. The command line prints the message in one line and exits with
 * status 3. The output directory keeps its last good checkpoint.
 */
public final class TrainingHaltedException extends RuntimeException {

    private final int step;

    public TrainingHaltedException(int step, String message) {
        super(message);
        this.step = step;
    }

    /** The optimiser step (1-based) at which the run stopped. */
    public int step() {
        return step;
    }
}
