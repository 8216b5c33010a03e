package org.prefixshare.ops.exec;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOpDescriptor;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of our SameDiff custom ops: a {@link DynamicCustomOp} that libnd4j does not know, run by
 * {@link PrefixShareOpExecutioner}. It answers the questions SameDiff and ND4J ask of every op without reaching
 * libnd4j (descriptor, hash, output count, types and shapes), and keeps its only attribute, a list of doubles, both
 * in the t-args and in the function properties so FlatBuffers cloning (gradients) and save/load round-trip it.
 */
public abstract class JavaCustomOp extends DynamicCustomOp implements JavaExecutedOp {

    private static final String T_ARGS_PROPERTY = "tArgs";

    protected JavaCustomOp() {
    }

    protected JavaCustomOp(SameDiff sd, SDVariable[] inputs, double... tArgs) {
        super(null, sd, inputs, false);
        addTArgument(tArgs);
    }

    /** Number of outputs of this op: one unless the op says otherwise. */
    protected int outputCount() {
        return 1;
    }

    @Override
    public int getNumOutputs() {
        return outputCount();
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> inputTypes) {
        List<DataType> types = new ArrayList<>(outputCount());
        for (int i = 0; i < outputCount(); i++) {
            types.add(inputTypes.get(0));
        }
        return types;
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape() {
        return outputShapes(inputArguments());
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(OpContext context) {
        return outputShapes(context.getInputArrays());
    }

    @Override
    public CustomOpDescriptor getDescriptor() {
        return null; // libnd4j has no descriptor for us
    }

    @Override
    public void assertValidForExecution() {
        // libnd4j's check looks the op up in its own registry; our shape checks run in execute()
    }

    /**
     * libnd4j would crash on an unknown hash, so answer only when our executioner is active: that is where the op
     * will run. Otherwise fail with instructions.
     */
    @Override
    public long opHash() {
        if (!ExecutionerHook.isActive()) {
            throw new IllegalStateException("Op '" + opName() + "' is a prefixshare op, but ND4J's executioner ("
                    + org.nd4j.linalg.factory.Nd4j.getExecutioner().getClass().getName() + ") cannot run it. Call "
                    + "org.prefixshare.ops.attention.PrefixShareOps.init() before building or loading the graph, "
                    + "or start the JVM with -Dopexec=" + PrefixShareOpExecutioner.class.getName());
        }
        return opName().hashCode();
    }

    @Override
    public Map<String, Object> propertiesForFunction() {
        Map<String, Object> properties = new HashMap<>();
        properties.put(T_ARGS_PROPERTY, tArgs());
        return properties;
    }

    @Override
    public void setPropertiesForFunction(Map<String, Object> properties) {
        Object t = properties.get(T_ARGS_PROPERTY);
        if (t instanceof double[] values && numTArguments() == 0) {
            addTArgument(values);
        }
    }

    @Override
    public void configureFromArguments() {
        // attributes live in the t-args already
    }
}
