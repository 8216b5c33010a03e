package org.prefixshare.ops.exec.cuda;

import org.nd4j.jita.allocator.impl.AtomicAllocator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.jcublas.ops.executioner.CudaExecutioner;
import org.prefixshare.ops.attention.PrefixShareAttention;
import org.prefixshare.ops.attention.PrefixShareAttentionBp;
import org.prefixshare.ops.exec.JavaExecutedOp;
import org.prefixshare.ops.exec.JavaOpOutputs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * ND4J's CUDA executioner (nd4j-cuda-11.6) plus our ops: the CUDA twin of
 * {@link org.prefixshare.ops.exec.PrefixShareOpExecutioner}. The attention forward / backward ops run the CUDA
 * kernels on the arrays' device buffers on ND4J's stream ({@link CudaAttention}); other {@link JavaExecutedOp}s,
 * and attention calls the kernels do not cover (head dim other than 64 / 128, double, no usable GPU), run their
 * host implementation on synchronised host memory; everything else is delegated to ND4J.
 * <p>Installed by {@code ExecutionerHook} only when ND4J's backend is the CUDA one (it is never loaded on the CPU
 * backend), or directly with {@code -Dopexec=org.prefixshare.ops.exec.cuda.PrefixShareCudaOpExecutioner}.
 */
public class PrefixShareCudaOpExecutioner extends CudaExecutioner {

    private static final Logger log = LoggerFactory.getLogger(PrefixShareCudaOpExecutioner.class);
    private static volatile boolean hostFallbackLogged;

    @Override
    public INDArray[] exec(CustomOp op, OpContext context) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op, context);
        }
        List<INDArray> inputs = context.getInputArrays();
        List<INDArray> outputs = JavaOpOutputs.of(javaOp, context);
        long start = profilingConfigurableHookIn(op, context);
        run(op, javaOp, inputs, outputs);
        profilingConfigurableHookOut(op, context, start);
        return outputs.toArray(new INDArray[0]);
    }

    @Override
    public INDArray[] exec(CustomOp op) {
        if (!(op instanceof JavaExecutedOp javaOp)) {
            return super.exec(op);
        }
        List<INDArray> inputs = op.inputArguments();
        List<INDArray> outputs = JavaOpOutputs.of(javaOp, op);
        run(op, javaOp, inputs, outputs);
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

    private static void run(CustomOp op, JavaExecutedOp javaOp, List<INDArray> in, List<INDArray> out) {
        double scale = op.tArgs().length > 0 ? op.tArgs()[0] : Double.NaN;
        if (op instanceof PrefixShareAttention && CudaAttention.supports(in.get(0))) {
            CudaAttention.forward(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), scale, out.get(0),
                    out.get(1));
        } else if (op instanceof PrefixShareAttentionBp && CudaAttention.supports(in.get(0))) {
            CudaAttention.backward(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), in.get(5), in.get(6),
                    in.get(7), scale, out.get(0), out.get(1), out.get(2));
        } else {
            runOnHost(op, javaOp, in, out);
        }
    }

    /** The op's own (host) implementation on host memory made current first; outputs marked host-written. */
    private static void runOnHost(CustomOp op, JavaExecutedOp javaOp, List<INDArray> in, List<INDArray> out) {
        if (!hostFallbackLogged) {
            hostFallbackLogged = true;
            log.warn("prefixshare: {} runs on the host under the CUDA backend (CUDA kernels: bf16/fp16/fp32, head "
                    + "dim 64 or 128, sm_80+; {})", op.opName(),
                    CudaKernels.loadError() == null ? "this call is outside that" : CudaKernels.loadError());
        }
        AtomicAllocator alloc = AtomicAllocator.getInstance();
        for (INDArray a : in) {
            if (a != null) {
                alloc.synchronizeHostData(a);
            }
        }
        for (INDArray a : out) {
            alloc.synchronizeHostData(a);
        }
        javaOp.execute(in, out);
        for (INDArray a : out) {
            alloc.tickHostWrite(a);
        }
    }
}
