package org.prefixshare.layers;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.List;

/**
 * Reads the packed {@link DpoLabels} array {@code [B,K,T]} inside the output layer's graph and emits, in the
 * labels' float type: labelIndex [N], labelToken [N], seqMatrix [S,N] (0/1), pairChosen [P,S] and pairRejected
 * [P,S] (one-hot selections: no {@code sd.gather}, whose M2.1 backward is wrong), seqTokens [S], seqRefLogps [S] and
 * the scalar bcoDelta. N, S and P change per batch. Not differentiable (labels are data): its gradient is zero.
 * t-args: {vocab, needsReference (0/1)}.
 */
public class DpoLabelDecode extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_dpo_label_decode";

    /** For ND4J's reflection. */
    public DpoLabelDecode() {
    }

    public DpoLabelDecode(SameDiff sd, SDVariable labels, int vocab, boolean needsReference) {
        super(sd, new SDVariable[]{labels}, vocab, needsReference ? 1.0 : 0.0);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 8;
    }

    private DpoLabels.Decoded decode(INDArray labels) {
        DpoLabels.Decoded d = DpoLabels.decode(labels, getTArgument(0).intValue());
        if (getTArgument(1) != 0.0) { // needsReference
            for (int s = 0; s < d.numSequences(); s++) {
                if (Double.isNaN(d.refLogp()[s])) {
                    throw new IllegalStateException("DpoOutputLayer: the loss needs reference log-probs, but sequence "
                            + s + " of the batch has none (attach them to the iterator: ReferenceLogps, or use a "
                            + "reference-free loss: sft, simpo, cpo, orpo)");
                }
            }
        }
        return d;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        DpoLabels.Decoded d = decode(in.get(0));
        DataType dt = in.get(0).dataType();
        long n = d.labels();
        long s = d.numSequences();
        long p = d.pairs().size();
        return List.of(LongShapeDescriptor.fromShape(new long[]{n}, dt),
                LongShapeDescriptor.fromShape(new long[]{n}, dt),
                LongShapeDescriptor.fromShape(new long[]{s, n}, dt),
                LongShapeDescriptor.fromShape(new long[]{p, s}, dt),
                LongShapeDescriptor.fromShape(new long[]{p, s}, dt),
                LongShapeDescriptor.fromShape(new long[]{s}, dt),
                LongShapeDescriptor.fromShape(new long[]{s}, dt),
                LongShapeDescriptor.fromShape(new long[0], dt));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        DpoLabels.Decoded d = decode(in.get(0));
        int n = d.labels();
        for (int i = 0; i < n; i++) {
            out.get(0).putScalar(i, d.labelIndex()[i]);
            out.get(1).putScalar(i, d.labelToken()[i]);
        }
        INDArray member = out.get(2);
        member.assign(0.0);
        for (int i = 0; i < n; i++) {
            member.putScalar(d.labelSeq()[i], i, 1.0);
        }
        int[] c = d.pairs().chosen();
        int[] r = d.pairs().rejected();
        out.get(3).assign(0.0);
        out.get(4).assign(0.0);
        for (int i = 0; i < c.length; i++) {
            out.get(3).putScalar(i, c[i], 1.0);
            out.get(4).putScalar(i, r[i], 1.0);
        }
        for (int s = 0; s < d.numSequences(); s++) {
            out.get(5).putScalar(s, d.tokens()[s]);
            double ref = d.refLogp()[s];
            out.get(6).putScalar(s, Double.isNaN(ref) ? 0.0 : ref);
        }
        out.get(7).assign(d.bcoDelta());
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        return List.of(sameDiff.zerosLike(args()[0]));
    }
}
