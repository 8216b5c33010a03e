package org.prefixshare.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Logs (every {@code frequency} iterations) and records (every iteration) the DPO metrics of the network's
 * {@link DpoOutputLayer}: {@code loss}, {@code rewards/chosen}, {@code rewards/rejected}, {@code rewards/accuracies},
 * {@code rewards/margins}, {@code logps/chosen}, {@code logps/rejected} (TRL's names), plus {@code iteration}.
 * The numbers come from the layer's own score pass: no extra forward.
 */
public class DpoMetricsListener extends BaseTrainingListener {

    private static final Logger log = LoggerFactory.getLogger(DpoMetricsListener.class);

    private final int frequency;
    private final List<Map<String, Double>> history = Collections.synchronizedList(new ArrayList<>());

    /** @param frequency log every this many iterations (0: never log, only record) */
    public DpoMetricsListener(int frequency) {
        if (frequency < 0) {
            throw new IllegalArgumentException("DpoMetricsListener: frequency must be >= 0, got " + frequency);
        }
        this.frequency = frequency;
    }

    /** Recorded metrics, one map per iteration (a copy). */
    public List<Map<String, Double>> history() {
        synchronized (history) {
            return new ArrayList<>(history);
        }
    }

    /** The last recorded metrics, or an empty map. */
    public Map<String, Double> last() {
        synchronized (history) {
            return history.isEmpty() ? Map.of() : history.get(history.size() - 1);
        }
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        Map<String, Double> m = metricsOf(model);
        if (m.isEmpty()) {
            return;
        }
        Map<String, Double> row = new LinkedHashMap<>();
        row.put("iteration", (double) iteration);
        row.putAll(m);
        history.add(row);
        if (frequency > 0 && iteration % frequency == 0) {
            StringBuilder sb = new StringBuilder();
            m.forEach((k, v) -> sb.append(String.format(Locale.ROOT, " %s=%.5f", k, v)));
            log.info("iteration {} epoch {}:{}", iteration, epoch, sb);
        }
    }

    /** The metrics of the model's (first) DpoOutputLayer's last scored batch; empty when it has none. */
    public static Map<String, Double> metricsOf(Model model) {
        Layer[] layers = model instanceof ComputationGraph g ? g.getLayers()
                : model instanceof MultiLayerNetwork n ? n.getLayers() : new Layer[0];
        for (Layer l : layers) {
            if (l instanceof DpoOutputLayerImpl d) {
                return d.lastMetrics();
            }
        }
        return Map.of();
    }
}
