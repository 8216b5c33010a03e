package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.ops.backend.AttentionDims;

/**
 * The same function as {@link PrefixShareAttention}, written with stock SameDiff ops over a dense {@code [B,Hq,T,T]}
 * score tensor: the {@link AncestorMask} rule as a 0/1 tensor, max-subtracted exponentials multiplied by it, and a
 * guarded normalisation (a query that sees no key gets 0). It is the test oracle of the native kernels and the
 * fallback when they cannot load. Time and memory are O(T^2) per head.
 *
 * <p>Its lse output equals the op's wherever a query sees at least one key (elsewhere it is finite and meaningless).
 */
public final class DenseReferenceAttention {

    /** Added to masked scores; exp of it underflows to exactly 0 in float32 and float64. */
    private static final double MASKED = 1e9;

    private DenseReferenceAttention() {
    }

    /** Returns {out [B,T,Hq,D], lse [B,Hq,T]}. {@code headsQ}/{@code headsKv} are the static head counts. */
    public static SDVariable[] build(SameDiff sd, SDVariable q, SDVariable k, SDVariable v, SDVariable node,
                                     SDVariable subtreeEnd, double scale, int headsQ, int headsKv) {
        DataType dt = q.dataType();
        SDVariable kq = repeatKvHeads(sd, k, q, headsQ, headsKv);
        SDVariable vq = repeatKvHeads(sd, v, q, headsQ, headsKv);
        SDVariable qh = sd.permute(q, 0, 2, 1, 3);                        // [B,Hq,T,D]
        SDVariable kh = sd.permute(kq, 0, 2, 1, 3);                       // [B,Hq,T,D]
        SDVariable vh = sd.permute(vq, 0, 2, 1, 3);                       // [B,Hq,T,D]
        SDVariable scores = sd.mmul(qh, kh, false, true, false).mul(scale); // [B,Hq,T,T]

        SDVariable visible = AncestorMask.visibility(sd, node.castTo(dt), subtreeEnd.castTo(dt)); // [B,1,T,T], 0/1
        SDVariable masked = scores.add(visible.sub(1.0).mul(MASKED));
        SDVariable rowMax = sd.max(masked, true, 3);                      // [B,Hq,T,1]
        SDVariable p = sd.math().exp(masked.sub(rowMax)).mul(visible);
        SDVariable rowSum = sd.sum(p, true, 3);                           // [B,Hq,T,1]
        // rows that see nothing have rowSum 0: divide by 1 instead, giving out = 0
        SDVariable safeSum = rowSum.add(rowSum.eq(0.0).castTo(dt));
        SDVariable outH = sd.mmul(p, vh).div(safeSum);                    // [B,Hq,T,D]
        SDVariable out = sd.permute(outH, 0, 2, 1, 3);                    // [B,T,Hq,D]
        SDVariable lse = sd.squeeze(rowMax.add(sd.math().log(safeSum)), 3); // [B,Hq,T]
        // the native op's lse type (FLOAT for 16-bit inputs), so both implementations give the same output types
        DataType lseType = AttentionDims.lseType(dt);
        return new SDVariable[]{out, lseType == dt ? lse : lse.castTo(lseType)};
    }

    /**
     * k/v [B,T,Hkv,D] to [B,T,Hq,D]: q head h reads kv head h / (Hq / Hkv). A broadcast multiply and a reshape to
     * q's shape (M2.1's gather backward clashes on variable names when two gathers are differentiated).
     */
    private static SDVariable repeatKvHeads(SameDiff sd, SDVariable kv, SDVariable q, int headsQ, int headsKv) {
        if (headsQ == headsKv) {
            return kv;
        }
        int group = headsQ / headsKv;
        SDVariable ones = sd.constant(org.nd4j.linalg.factory.Nd4j.ones(kv.dataType(), 1, 1, 1, group, 1));
        SDVariable repeated = sd.expandDims(kv, 3).mul(ones);            // [B,T,Hkv,G,D]
        return sd.reshape(repeated, sd.shape(q));                        // [B,T,Hq,D]
    }
}
