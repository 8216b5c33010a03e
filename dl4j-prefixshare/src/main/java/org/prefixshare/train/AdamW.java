package org.prefixshare.train;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.schedule.ISchedule;
import org.prefixshare.ops.fused.FusedOps;
import org.prefixshare.ops.nativeload.NativeKernels;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.prefixshare.ops.nativeload.NativeArrays.address;
import static org.prefixshare.ops.nativeload.NativeArrays.isDenseC;

/**
 * Adam with decoupled weight decay (AdamW, Loshchilov &amp; Hutter) over named parameters, with global-norm gradient
 * clipping. The state is ND4J's Adam state array per parameter ({@code [1, 2n]}: m, then v), owned by this class so
 * it can be checkpointed and restored by name. A step is one native call per parameter ({@code ps_adam_cpu}: ND4J's
 * adam_updater arithmetic plus the decay) when the fused native ops are enabled and the arrays are dense float or
 * double, else ND4J's updater followed by a subtract (four ND4J ops per parameter, ~7 ms of a small model's step).
 */
public final class AdamW {

    private final ISchedule lr;
    private final double weightDecay;
    private final Adam adam;
    private final Map<String, GradientUpdater<?>> updaters = new LinkedHashMap<>();
    private final Map<String, INDArray> state = new LinkedHashMap<>();

    /** An optimiser for these parameters (by name) with a learning-rate schedule over steps. */
    public AdamW(Map<String, INDArray> parameters, ISchedule lr, double weightDecay) {
        this.lr = lr;
        this.weightDecay = weightDecay;
        this.adam = new Adam(lr);
        for (Map.Entry<String, INDArray> p : parameters.entrySet()) {
            INDArray s = Nd4j.zeros(p.getValue().dataType(), 1, adam.stateSize(p.getValue().length()));
            state.put(p.getKey(), s);
            updaters.put(p.getKey(), adam.instantiate(s, true)); // the updater keeps views of s
        }
    }

    /** Scales the gradients so their global L2 norm is at most {@code maxNorm} (0 = off); returns the norm before. */
    public static double clipGlobalNorm(Collection<INDArray> gradients, double maxNorm) {
        double sq = 0;
        for (INDArray g : gradients) {
            double n = g.norm2Number().doubleValue();
            sq += n * n;
        }
        double norm = Math.sqrt(sq);
        if (maxNorm > 0 && norm > maxNorm) {
            double c = maxNorm / (norm + 1e-6);
            gradients.forEach(g -> g.muli(c));
        }
        return norm;
    }

    /**
     * One update of optimiser step {@code step} (0-based): decay, then Adam. The gradients are consumed (overwritten
     * with the update). Parameters without a gradient are left alone.
     */
    public void apply(Map<String, INDArray> parameters, Map<String, INDArray> gradients, int step) {
        double rate = lr.valueAt(step, 0);
        double decay = weightDecay > 0 ? 1 - rate * weightDecay : 1;
        boolean fused = FusedOps.enabled();
        for (Map.Entry<String, INDArray> e : parameters.entrySet()) {
            INDArray g = gradients.get(e.getKey());
            if (g == null) {
                continue;
            }
            INDArray param = e.getValue();
            if (fused && nativeStep(param, g, state.get(e.getKey()), rate, decay, step)) {
                continue;
            }
            if (weightDecay > 0) {
                param.muli(decay);
            }
            INDArray flat = g.reshape(1, g.length());
            updaters.get(e.getKey()).applyUpdater(flat, step, 0);
            param.subi(flat.reshape(param.shape()));
        }
    }

    /** One step of one parameter in the native kernel; false (nothing done) when the arrays do not suit it. */
    private boolean nativeStep(INDArray param, INDArray g, INDArray s, double rate, double decay, int step) {
        DataType t = param.dataType();
        if ((t != DataType.FLOAT && t != DataType.DOUBLE) || g.dataType() != t || s.dataType() != t
                || g.length() != param.length() || !isDenseC(param) || !isDenseC(g) || !isDenseC(s)) {
            return false;
        }
        long n = param.length();
        long m = address(s);
        long v = m + n * t.width();
        NativeKernels.adam(NativeKernels.dtypeCode(t), n, address(param), address(g), m, v, rate, adam.getBeta1(),
                adam.getBeta2(), adam.getEpsilon(), step, decay, NativeKernels.THREADS);
        return true;
    }

    /**
     * The optimiser state by parameter name: the live arrays, not copies (a checkpoint writes them between two
     * steps; copying would add the state's size to the peak memory).
     */
    public Map<String, INDArray> state() {
        return Collections.unmodifiableMap(state);
    }

    /** Copies of the optimiser state by parameter name. */
    public Map<String, INDArray> snapshot() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        state.forEach((k, v) -> m.put(k, v.dup()));
        return m;
    }

    /** Restores a {@link #snapshot()}. */
    public void restore(Map<String, INDArray> saved) {
        for (Map.Entry<String, INDArray> e : state.entrySet()) {
            INDArray s = saved.get(e.getKey());
            if (s == null) {
                throw new IllegalStateException("no optimiser state for parameter " + e.getKey());
            }
            e.getValue().assign(s);
        }
    }
}
