package org.prefixshare.spark;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.io.Serializable;

/**
 * A ComputationGraph's configuration (JSON) and weights, to broadcast to executors: each builds its own copy
 * ({@link #build}). Used for the frozen reference model of standard DPO.
 */
public final class GraphSnapshot implements Serializable {

    private static final long serialVersionUID = 1L;

    private final String configurationJson;
    private final INDArray params;

    /** The configuration and a copy of the current weights of {@code graph}. */
    public GraphSnapshot(ComputationGraph graph) {
        this.configurationJson = graph.getConfiguration().toJson();
        this.params = graph.params().dup();
    }

    /**
     * A graph with these weights, in this JVM. Registers prefixshare's ops and installs its executioner hook first
     * (an executor JVM has not done so yet).
     */
    public ComputationGraph build() {
        PrefixShareOps.init();
        ComputationGraph g = new ComputationGraph(ComputationGraphConfiguration.fromJson(configurationJson));
        g.init(params.dup(), false);
        return g;
    }
}
