package org.prefixshare.spark;

import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingResult;

import java.util.function.DoubleConsumer;

/**
 * DL4J's {@link ParameterAveragingTrainingMaster} that reports, on the driver, the loss of every averaging round (the
 * workers' mean score of their last minibatch in the round) as soon as the round's parameters are averaged.
 */
final class RoundReportingTrainingMaster extends ParameterAveragingTrainingMaster {

    private static final long serialVersionUID = 1L;

    private final transient DoubleConsumer onRound;

    RoundReportingTrainingMaster(Builder builder, DoubleConsumer onRound) {
        super(builder);
        this.onRound = onRound;
    }

    @Override
    protected void processResults(SparkDl4jMultiLayer network, SparkComputationGraph graph,
                                  JavaRDD<ParameterAveragingTrainingResult> results, int splitNum, int totalSplits) {
        super.processResults(network, graph, results, splitNum, totalSplits);
        if (onRound != null) {
            onRound.accept(graph != null ? graph.getScore() : network.getScore());
        }
    }
}
