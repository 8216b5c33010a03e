package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Collections;
import java.util.Map;
import java.util.Random;

/** One attention problem (random q, k, v, dOut over a given layout) and its two evaluations. */
record AttentionCase(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd, INDArray dOut,
                     double scale) {

    static AttentionCase random(Random rnd, DataType dt, int[][][] rows, int hq, int hkv, int d) {
        int b = rows.length;
        int t = rows[0][0].length;
        int[][] node = new int[b][];
        int[][] end = new int[b][];
        for (int i = 0; i < b; i++) {
            node[i] = rows[i][0];
            end[i] = rows[i][1];
        }
        long seed = rnd.nextLong();
        Nd4j.getRandom().setSeed(seed);
        return new AttentionCase(
                Nd4j.randn(dt, b, t, hq, d),
                Nd4j.randn(dt, b, t, hkv, d),
                Nd4j.randn(dt, b, t, hkv, d),
                Nd4j.createFromArray(node),
                Nd4j.createFromArray(end),
                Nd4j.randn(dt, b, t, hq, d),
                1.0 / Math.sqrt(d));
    }

    int hq() {
        return (int) q.size(2);
    }

    int hkv() {
        return (int) k.size(2);
    }

    /** {out, lse, dq, dk, dv} from the native op (eager). */
    INDArray[] nativeResult() {
        INDArray[] fwd = PrefixShareOps.forward(q, k, v, node, subtreeEnd, scale);
        INDArray[] bwd = PrefixShareOps.backward(q, k, v, node, subtreeEnd, fwd[0], fwd[1], dOut, scale);
        return new INDArray[]{fwd[0], fwd[1], bwd[0], bwd[1], bwd[2]};
    }

    /** {out, lse, dq, dk, dv} from a SameDiff graph with the given implementation, loss = sum(out * dOut). */
    INDArray[] graphResult(PrefixShareOps.Implementation impl) {
        SameDiff sd = SameDiff.create();
        SDVariable vq = sd.var("q", q.dup());
        SDVariable vk = sd.var("k", k.dup());
        SDVariable vv = sd.var("v", v.dup());
        SDVariable n = sd.constant("node", node.castTo(q.dataType()));
        SDVariable e = sd.constant("subtreeEnd", subtreeEnd.castTo(q.dataType()));
        SDVariable[] r = PrefixShareOps.attentionWithLse(sd, vq, vk, vv, n, e, scale, impl);
        SDVariable loss = r[0].mul(sd.constant("w", dOut)).sum("loss");
        loss.markAsLoss();
        Map<String, INDArray> fwd = sd.output(Collections.emptyMap(), r[0].name(), r[1].name());
        Map<String, INDArray> g = sd.calculateGradients(Collections.emptyMap(), "q", "k", "v");
        return new INDArray[]{fwd.get(r[0].name()), fwd.get(r[1].name()), g.get("q"), g.get("k"), g.get("v")};
    }
}
