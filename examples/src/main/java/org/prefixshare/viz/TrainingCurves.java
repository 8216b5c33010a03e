package org.prefixshare.viz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-step training metrics under TRL's names ({@code loss}, {@code rewards/accuracies}, {@code rewards/margins},
 * {@code rewards/chosen}, {@code rewards/rejected}, ...; held-out ones with an {@code eval_} prefix), read from a run's
 * {@code metrics.jsonl} or from DL4J's {@link org.prefixshare.layers.DpoMetricsListener}, drawn as XChart line charts:
 * {@link #picture()} puts loss, reward accuracy and reward margin side by side, {@link #chart} gives one XChart
 * chart of any metrics to style further.
 */
public final class TrainingCurves {

    /** The three panels of {@link #picture()}: title, then the metric drawn in it. */
    private static final List<List<String>> PANELS = List.of(
            List.of("loss", "loss"),
            List.of("reward accuracy", "rewards/accuracies"),
            List.of("reward margin", "rewards/margins"));

    /** Series colours, in order (matplotlib's first four); a held-out series takes its training series' colour. */
    private static final Color[] COLOURS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0x9467bd)};

    private static final ObjectMapper JSON = new ObjectMapper();

    /** metric -> (steps, values), in the order the metrics first appear. */
    private final Map<String, Series> series;

    private record Series(List<Double> steps, List<Double> values) {
    }

    private TrainingCurves(Map<String, Series> series) {
        this.series = series;
    }

    /**
     * Reads a {@code metrics.jsonl} as {@code prefixshare train} and {@code DpoTrainer} write it: one JSON object a
     * line, each with its {@code step}; every numeric field is a metric (text fields and NaN are skipped).
     */
    public static TrainingCurves fromJsonl(Path metricsJsonl) {
        Map<String, Series> m = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(metricsJsonl, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + metricsJsonl, e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            JsonNode o;
            try {
                o = JSON.readTree(line);
            } catch (IOException e) {
                throw new IllegalArgumentException(metricsJsonl + " line " + (i + 1) + " is not JSON: "
                        + e.getMessage().lines().findFirst().orElse(""), e);
            }
            if (!o.isObject() || !o.path("step").isNumber()) {
                throw new IllegalArgumentException(metricsJsonl + " line " + (i + 1)
                        + " is not a JSON object with a numeric \"step\": " + line);
            }
            double step = o.get("step").asDouble();
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (!f.getKey().equals("step") && f.getValue().isNumber()) {
                    add(m, f.getKey(), step, f.getValue().asDouble());
                }
            }
        }
        return new TrainingCurves(m);
    }

    /**
     * The metrics DL4J's {@code DpoMetricsListener.history()} recorded, one map per iteration; the step is the
     * map's {@code iteration} + 1 (DL4J counts iterations from 0), or its position when it has none.
     */
    public static TrainingCurves fromHistory(List<? extends Map<String, ? extends Number>> history) {
        Map<String, Series> m = new LinkedHashMap<>();
        for (int i = 0; i < history.size(); i++) {
            Map<String, ? extends Number> row = history.get(i);
            Number it = row.get("iteration");
            double step = it == null ? i + 1 : it.doubleValue() + 1;
            for (Map.Entry<String, ? extends Number> e : row.entrySet()) {
                if (!e.getKey().equals("iteration") && e.getValue() != null) {
                    add(m, e.getKey(), step, e.getValue().doubleValue());
                }
            }
        }
        return new TrainingCurves(m);
    }

    private static void add(Map<String, Series> m, String metric, double step, double value) {
        if (Double.isFinite(value)) {
            Series s = m.computeIfAbsent(metric, k -> new Series(new ArrayList<>(), new ArrayList<>()));
            s.steps.add(step);
            s.values.add(value);
        }
    }

    /** The metrics present, in the order they first appear. */
    public List<String> metrics() {
        return List.copyOf(series.keySet());
    }

    /** The steps at which {@code metric} was recorded (empty when it never was). */
    public double[] steps(String metric) {
        Series s = series.get(metric);
        return s == null ? new double[0] : s.steps.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The values of {@code metric}, one per {@link #steps} entry. */
    public double[] values(String metric) {
        Series s = series.get(metric);
        return s == null ? new double[0] : s.values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * One chart: each named training metric as a line and, when the run evaluated held-out data, its
     * {@code eval_} twin as points of the same colour. Metrics the run did not record are left out.
     */
    public XYChart chart(String title, int width, int height, String... metrics) {
        XYChart c = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle("step").build();
        Styler st = c.getStyler();
        st.setLegendPosition(Styler.LegendPosition.OutsideS);
        st.setLegendLayout(Styler.LegendLayout.Horizontal);
        st.setLegendBorderColor(Color.WHITE);
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBorderVisible(false);
        st.setMarkerSize(7);
        c.getStyler().setXAxisTickMarkSpacingHint(90);
        int colour = 0;
        for (String metric : metrics) {
            Color col = COLOURS[colour % COLOURS.length];
            boolean drawn = false;
            if (series.containsKey(metric)) {
                XYSeries s = c.addSeries(metric, steps(metric), values(metric));
                s.setMarker(SeriesMarkers.NONE);
                s.setLineColor(col);
                drawn = true;
            }
            String eval = "eval_" + metric;
            if (series.containsKey(eval)) {
                // one metric: the point series is just "held out"; several: each says whose it is
                XYSeries s = c.addSeries(metrics.length == 1 ? "held out" : eval, steps(eval), values(eval));
                s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
                s.setMarker(SeriesMarkers.CIRCLE);
                s.setMarkerColor(col.darker());
                drawn = true;
            }
            colour += drawn ? 1 : 0;
        }
        if (c.getSeriesMap().isEmpty()) {
            throw new IllegalArgumentException("none of " + List.of(metrics) + " was recorded; metrics present: "
                    + series.keySet());
        }
        return c;
    }

    /**
     * Loss, reward accuracy and reward margin side by side (training steps as lines, held-out evaluations as
     * points). {@code chart("rewards", 600, 400, "rewards/chosen", "rewards/rejected")} draws the rewards themselves.
     */
    public BufferedImage picture() {
        return picture(1200, 340);
    }

    /** {@link #picture()} at a given overall size. */
    public BufferedImage picture(int width, int height) {
        List<BufferedImage> panels = new ArrayList<>();
        int panelWidth = width / PANELS.size();
        for (List<String> p : PANELS) {
            if (p.subList(1, p.size()).stream().anyMatch(series::containsKey)) {
                panels.add(BitmapEncoder.getBufferedImage(chart(p.get(0), panelWidth, height,
                        p.subList(1, p.size()).toArray(new String[0]))));
            }
        }
        if (panels.isEmpty()) {
            throw new IllegalArgumentException("no loss or reward metrics to draw; metrics present: "
                    + series.keySet());
        }
        BufferedImage img = new BufferedImage(panelWidth * panels.size(), height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            for (int i = 0; i < panels.size(); i++) {
                g.drawImage(panels.get(i), i * panelWidth, 0, null);
            }
        } finally {
            g.dispose();
        }
        return img;
    }
}
