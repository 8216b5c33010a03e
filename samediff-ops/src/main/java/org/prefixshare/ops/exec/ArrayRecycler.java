package org.prefixshare.ops.exec;

import org.nd4j.autodiff.samediff.internal.SessionMemMgr;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A SameDiff session memory manager that takes an array back as soon as the op that reads it last has run, instead
 * of when the execution ends. SameDiff 1.0.0-M2.1 releases nothing during a gradient execution (it switches its own
 * release off for the gradient function), so without this a backward through N layers holds all N layers' input
 * gradients until it ends. {@link LastReads} decides which arrays are dead; the manager decides what to do with them.
 */
public interface ArrayRecycler extends SessionMemMgr {

    /**
     * Takes back {@code array}: the op that just ran was its last reader. Must ignore an array this manager did not
     * allocate, one it has already taken back, and one the execution hands to its caller (allocated as an output).
     */
    void recycle(INDArray array);
}
