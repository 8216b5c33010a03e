package org.prefixshare.ops.exec;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

/**
 * Output arrays of a {@link JavaExecutedOp} call, as every executioner of ours (CPU, CUDA) prepares them: the ones
 * SameDiff or the caller gave, and the missing ones allocated from the op's shapes and handed back to the context
 * or op.
 */
public final class JavaOpOutputs {

    private JavaOpOutputs() {
    }

    /** Outputs of a SameDiff / DL4J call through an {@link OpContext}. */
    public static List<INDArray> of(JavaExecutedOp op, OpContext context) {
        List<INDArray> outputs = new ArrayList<>(context.getOutputArrays());
        if (outputs.isEmpty() || outputs.contains(null)) {
            outputs = allocate(op.outputShapes(context.getInputArrays()), outputs);
            for (int i = 0; i < outputs.size(); i++) {
                context.setOutputArray(i, outputs.get(i));
            }
        }
        return outputs;
    }

    /** Outputs of an eager call ({@code exec(CustomOp)}): missing ones are added to the op. */
    public static List<INDArray> of(JavaExecutedOp op, CustomOp custom) {
        List<INDArray> outputs = allocate(op.outputShapes(custom.inputArguments()), custom.outputArguments());
        for (int i = custom.outputArguments().size(); i < outputs.size(); i++) {
            custom.addOutputArgument(outputs.get(i));
        }
        return outputs;
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
