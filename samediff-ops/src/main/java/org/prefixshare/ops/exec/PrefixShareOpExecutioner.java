package org.prefixshare.ops.exec;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

/**
 * ND4J's CPU executioner plus our ops. Every custom op of SameDiff (output, gradients, fit) and of DL4J layers goes
 * through {@code exec(CustomOp, OpContext)}, eager calls through {@code exec(CustomOp)}, and shape inference through
 * {@code calculateOutputShape}: ops implementing {@link JavaExecutedOp} are run here, all others are delegated.
 * Installed by {@link ExecutionerHook}.
 */
public class PrefixShareOpExecutioner extends NativeOpExecutioner {

    @Override
    public INDArray[] exec(CustomOp op, OpContext context) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op, context);
        }
        List<INDArray> inputs = context.getInputArrays();
        List<INDArray> outputs = new ArrayList<>(context.getOutputArrays());
        if (outputs.isEmpty() || outputs.contains(null)) {
            outputs = allocate(javaOp.outputShapes(inputs), outputs);
            for (int i = 0; i < outputs.size(); i++) {
                context.setOutputArray(i, outputs.get(i));
            }
        }
        long start = profilingConfigurableHookIn(op, context);
        javaOp.execute(inputs, outputs);
        profilingConfigurableHookOut(op, context, start);
        return outputs.toArray(new INDArray[0]);
    }

    @Override
    public INDArray[] exec(CustomOp op) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op);
        }
        List<INDArray> inputs = op.inputArguments();
        List<INDArray> outputs = allocate(javaOp.outputShapes(inputs), op.outputArguments());
        for (int i = 0; i < outputs.size(); i++) {
            if (i >= op.outputArguments().size()) {
                op.addOutputArgument(outputs.get(i));
            }
        }
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

    /** Keeps the given outputs that exist and allocates the missing ones. */
    private static List<INDArray> allocate(List<LongShapeDescriptor> shapes, List<INDArray> given) {
        List<INDArray> outputs = new ArrayList<>(shapes.size());
        for (int i = 0; i < shapes.size(); i++) {
            INDArray existing = i < given.size() ? given.get(i) : null;
            LongShapeDescriptor d = shapes.get(i);
            outputs.add(existing != null ? existing : Nd4j.createUninitialized(d.dataType(), d.getShape(), 'c'));
        }
        return outputs;
    }
}
