package org.prefixshare.bench.training;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a step of ours spends its time: a SameDiff listener that times every op execution (forward and backward,
 * by op name), run over a few more steps of a prepared {@link ModeRunner} after its timing. What no op accounts for
 * (the feeds, SameDiff's scheduling between ops, the AdamW update) is the step's wall time less the ops' sum.
 * Timing each op adds a little to every op, so the table shows shares, not the bench's step times.
 */
final class OpProfile extends BaseListener {

    private final Map<String, long[]> byOp = new HashMap<>();  // op name -> {calls, nanos}
    private long opStart;

    private OpProfile() {
    }

    @Override
    public boolean isActive(Operation operation) {
        return true;
    }

    @Override
    public void preOpExecution(SameDiff sd, At at, SameDiffOp op, OpContext opContext) {
        opStart = System.nanoTime();
    }

    @Override
    public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext opContext,
                            INDArray[] outputs) {
        long took = System.nanoTime() - opStart;
        long[] v = byOp.computeIfAbsent(op.getOp().opName(), k -> new long[2]);
        v[0]++;
        v[1] += took;
    }

    /**
     * Runs n more steps of the runner's timed batches (all its timed steps have run) under the listener; the table,
     * per step: each op's calls and milliseconds, largest first, and the time outside the ops.
     */
    static String run(ModeRunner runner, int n) {
        OpProfile p = new OpProfile();
        SameDiff sd = runner.sameDiff();
        List<Listener> before = new ArrayList<>(sd.getListeners() == null ? List.of() : sd.getListeners());
        sd.addListeners(p);
        double totalMs = 0;
        try {
            for (int i = 0; i < n; i++) {
                totalMs += runner.timedStep(i % runner.timedSteps());
            }
        } finally {
            sd.setListeners(before);
        }
        return p.table(totalMs, n);
    }

    private String table(double totalMs, int steps) {
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(byOp.entrySet());
        rows.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-40s %9s %12s %7s%n", "op (forward and "
                + "backward)", "calls/step", "ms/step", "share"));
        double opsMs = 0;
        for (Map.Entry<String, long[]> e : rows) {
            double ms = e.getValue()[1] / 1e6 / steps;
            opsMs += ms;
            b.append(String.format(Locale.ROOT, "%-40s %9.1f %12.2f %6.1f%%%n", e.getKey(),
                    (double) e.getValue()[0] / steps, ms, 100 * ms * steps / totalMs));
        }
        double outside = totalMs / steps - opsMs;
        b.append(String.format(Locale.ROOT, "%-40s %9s %12.2f %6.1f%%%n", "outside ops (feeds, scheduling, AdamW)", "",
                outside, 100 * outside * steps / totalMs));
        b.append(String.format(Locale.ROOT, "%-40s %9s %12.2f%n", "step (wall, with the listener)", "",
                totalMs / steps));
        return b.toString();
    }
}
