package org.prefixshare.bench.training;

/**
 * One mode being measured step by step, in this JVM ({@link #inProcess}) or in a child JVM ({@link WorkerProcess}),
 * so that {@link TrainingBenchmark} can let several modes take turns: a change of machine speed during the run then
 * hits every mode alike instead of whichever mode happened to be running.
 */
interface ModeSession extends AutoCloseable {

    /** Runs one untimed step before the first timed one ({@link ModeRunner#rewarm()}). */
    void rewarm() throws Exception;

    /** Runs timed step t (0-based, in order); returns its milliseconds. */
    double step(int t) throws Exception;

    /** The loss of the step that ran last (the first timed step's is computed from the initial weights). */
    double lastLoss();

    /**
     * After the timed steps: n more steps under an op profiler; the table of where their time went, or null where the
     * session has no profiler.
     */
    default String profileOps(int n) throws Exception {
        return null;
    }

    /** The mode's figures, after its last timed step. */
    ModeResult finish() throws Exception;

    /** Releases the session (ends a child JVM that is still running). */
    @Override
    void close();

    /** A session on a {@link ModeRunner} in this JVM (already prepared). */
    static ModeSession inProcess(ModeRunner runner) {
        return new ModeSession() {
            @Override
            public void rewarm() {
                runner.rewarm();
            }

            @Override
            public double step(int t) {
                return runner.timedStep(t);
            }

            @Override
            public double lastLoss() {
                return runner.lastLoss();
            }

            @Override
            public String profileOps(int n) {
                return OpProfile.run(runner, n);
            }

            @Override
            public ModeResult finish() {
                return runner.result();
            }

            @Override
            public void close() {
                runner.close();
            }
        };
    }
}
