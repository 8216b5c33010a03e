package org.prefixshare.layers;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Held-out DPO metrics of a graph built with {@link DpoOutputLayer}: one inference pass per batch of a
 * {@link DpoGraphIterator}, the layer's metrics ({@code loss}, {@code rewards/*}, {@code logps/*}) averaged over
 * all preference pairs (each batch weighted by its pair count), under TRL's {@code eval_} names.
 */
public final class DpoEvaluation {

    private DpoEvaluation() {
    }

    /** Evaluates every remaining batch of {@code data} (reset first when it supports it). */
    public static Map<String, Double> evaluate(ComputationGraph graph, MultiDataSetIterator data) {
        if (data.resetSupported()) {
            data.reset();
        }
        Map<String, Double> sum = new LinkedHashMap<>();
        long pairs = 0;
        while (data.hasNext()) {
            MultiDataSet ds = data.next();
            int p = DpoLabels.decode(ds.getLabels(0), 0).pairs().size();
            graph.score(ds, false);
            for (Map.Entry<String, Double> e : DpoMetricsListener.metricsOf(graph).entrySet()) {
                sum.merge("eval_" + e.getKey(), e.getValue() * p, Double::sum);
            }
            pairs += p;
        }
        if (pairs == 0) {
            throw new IllegalArgumentException("DpoEvaluation: no preference pairs to evaluate");
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : sum.entrySet()) {
            out.put(e.getKey(), e.getValue() / pairs);
        }
        out.put("eval_pairs", (double) pairs);
        return out;
    }
}
