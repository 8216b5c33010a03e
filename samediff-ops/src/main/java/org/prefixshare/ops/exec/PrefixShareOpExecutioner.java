package org.prefixshare.ops.exec;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner;

import java.util.List;

/**
 * ND4J's CPU executioner plus our ops. Every custom op of SameDiff (output, gradients, fit) and of DL4J layers goes
 * through {@code exec(CustomOp, OpContext)}, eager calls through {@code exec(CustomOp)}, and shape inference through
 * {@code calculateOutputShape}: ops implementing {@link JavaExecutedOp} are run here, all others are delegated.
 * Inputs a SameDiff op was the last to read go back to the session's memory manager at once ({@link LastReads}).
 * Installed by {@link ExecutionerHook}.
 */
public class PrefixShareOpExecutioner extends NativeOpExecutioner {

    @Override
    public INDArray[] exec(CustomOp op, OpContext context) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op, context);
        }
        List<INDArray> inputs = context.getInputArrays();
        List<INDArray> outputs = JavaOpOutputs.of(javaOp, context);
        long start = profilingConfigurableHookIn(op, context);
        javaOp.execute(inputs, outputs);
        profilingConfigurableHookOut(op, context, start);
        LastReads.recycle(op, inputs);
        return outputs.toArray(new INDArray[0]);
    }

    @Override
    public INDArray[] exec(CustomOp op) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op);
        }
        List<INDArray> inputs = op.inputArguments();
        List<INDArray> outputs = JavaOpOutputs.of(javaOp, op);
        javaOp.execute(inputs, outputs);
        return outputs.toArray(new INDArray[0]);
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(CustomOp op) {
        if (op instanceof JavaExecutedOp javaOp) {
            return javaOp.outputShapes(op.inputArguments());
        }
        return super.calculateOutputShape(op);
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(CustomOp op, OpContext context) {
        if (op instanceof JavaExecutedOp javaOp) {
            return javaOp.outputShapes(context.getInputArrays());
        }
        return super.calculateOutputShape(op, context);
    }
}
