package org.prefixshare.ops.exec;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.autodiff.samediff.internal.Variable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Hands the inputs an op execution read for the last time back to the session's {@link ArrayRecycler}, if it has
 * one. An input of op P is dead once P has run when its variable
 * <ul>
 *   <li>is an array variable (not a placeholder, parameter or constant, which outlive the execution),</li>
 *   <li>is made by one of our ops ({@link JavaExecutedOp}), which always write into a fresh output (an array made by
 *       a pass-through op, identity or a view, may be another variable's array, still in use), and</li>
 *   <li>has no control dependencies and no readers but P and ops that have certainly run already: our ops that made
 *       another of P's inputs (a layer's backward reads the layer's input, which its forward read too). A reader
 *       that is not one of our ops might pass the array through to a variable read later, so it keeps it alive.</li>
 * </ul>
 * Whether it is an output of the execution, the recycler checks. Only SameDiff executions on a session whose memory
 * manager opts in (prefixshare's array cache) are touched; DL4J layers and eager calls are not.
 */
public final class LastReads {

    private LastReads() {
    }

    /** After {@code op} has run on {@code inputs}: recycles the ones it was the last to read. */
    public static void recycle(CustomOp op, List<INDArray> inputs) {
        if (!(op instanceof DifferentialFunction f) || f.getSameDiff() == null) {
            return;
        }
        SameDiff sd = f.getSameDiff();
        InferenceSession session = sd.getSessions().get(Thread.currentThread().getId());
        if (session == null || !(session.getMmgr() instanceof ArrayRecycler recycler)) {
            return;
        }
        String[] names = f.argNames();
        Set<String> parents = new HashSet<>();
        for (String n : names) {
            Variable v = sd.getVariables().get(n);
            if (v != null && v.getOutputOfOp() != null) {
                parents.add(v.getOutputOfOp());
            }
        }
        for (int i = 0; i < names.length && i < inputs.size(); i++) {
            if (inputs.get(i) != null && deadAfter(sd, names[i], f.getOwnName(), parents)) {
                recycler.recycle(inputs.get(i));
            }
        }
    }

    private static boolean deadAfter(SameDiff sd, String name, String op, Set<String> parents) {
        Variable v = sd.getVariables().get(name);
        if (v == null || v.getVariable().getVariableType() != VariableType.ARRAY || !ours(sd, v.getOutputOfOp())
                || !isEmpty(v.getControlDepsForOp()) || !isEmpty(v.getControlDepsForVar())) {
            return false;
        }
        List<String> readers = v.getInputsForOp();
        if (readers == null) {
            return false;
        }
        int readByOp = 0;
        for (String reader : readers) {
            if (reader.equals(op)) {
                readByOp++;
            } else if (!parents.contains(reader) || !ours(sd, reader)) {
                return false;
            }
        }
        return readByOp == 1;
    }

    /** Whether op {@code name} is one of ours (fresh outputs, never a view or pass-through of an input). */
    private static boolean ours(SameDiff sd, String name) {
        SameDiffOp op = name == null ? null : sd.getOps().get(name);
        return op != null && op.getOp() instanceof JavaExecutedOp;
    }

    private static boolean isEmpty(List<String> l) {
        return l == null || l.isEmpty();
    }
}
