package org.prefixshare.ops.exec;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

import java.util.List;

/**
 * Base of the backward ops of our custom ops: a {@link JavaCustomOp} that is not differentiated itself (no second
 * derivatives); asking for its gradient fails naming the forward op.
 */
public abstract class JavaBackwardOp extends JavaCustomOp {

    protected JavaBackwardOp() {
    }

    protected JavaBackwardOp(SameDiff sd, SDVariable[] inputs, double... tArgs) {
        super(sd, inputs, tArgs);
    }

    /** What the forward op is called in the error message. */
    protected abstract String forwardName();

    @Override
    public final List<SDVariable> doDiff(List<SDVariable> grads) {
        throw new UnsupportedOperationException("second derivatives of " + forwardName() + " are not supported");
    }
}
