package org.prefixshare.viz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading a run's metrics (train and held-out lines) and drawing them. */
class TrainingCurvesTest {

    @TempDir
    Path dir;

    private Path metrics() throws Exception {
        Path f = dir.resolve("metrics.jsonl");
        Files.writeString(f, """
                {"step":1,"loss":0.69,"rewards/accuracies":0.5,"rewards/margins":0.0,"rewards/chosen":0.0,"rewards/rejected":0.0,"note":"x"}
                {"step":2,"loss":0.60,"rewards/accuracies":0.75,"rewards/margins":0.2,"rewards/chosen":0.1,"rewards/rejected":-0.1}
                {"step":2,"eval_loss":0.62,"eval_rewards/accuracies":0.7,"eval_rewards/margins":0.15}
                {"step":3,"loss":"NaN","rewards/accuracies":1.0,"rewards/margins":0.5,"rewards/chosen":0.2,"rewards/rejected":-0.3}
                """);
        return f;
    }

    @Test
    void trainAndHeldOutLinesBecomeSeriesByStep() throws Exception {
        TrainingCurves c = TrainingCurves.fromJsonl(metrics());
        assertArrayEquals(new double[]{1, 2}, c.steps("loss"), "NaN and text values are skipped");
        assertArrayEquals(new double[]{0.69, 0.60}, c.values("loss"));
        assertArrayEquals(new double[]{1, 2, 3}, c.steps("rewards/accuracies"));
        assertArrayEquals(new double[]{0.5, 0.75, 1.0}, c.values("rewards/accuracies"));
        assertArrayEquals(new double[]{2}, c.steps("eval_loss"));
        assertArrayEquals(new double[]{0.62}, c.values("eval_loss"));
        assertTrue(!c.metrics().contains("note"));
    }

    @Test
    void aChartHasTheTrainLinesAndTheHeldOutPoints() throws Exception {
        XYChart chart = TrainingCurves.fromJsonl(metrics()).chart("loss", 400, 300, "loss");
        assertEquals(List.of("loss", "held out"), List.copyOf(chart.getSeriesMap().keySet()));
        XYChart two = TrainingCurves.fromJsonl(metrics()).chart("two", 400, 300, "loss", "rewards/margins");
        assertEquals(List.of("loss", "eval_loss", "rewards/margins", "eval_rewards/margins"),
                List.copyOf(two.getSeriesMap().keySet()));
        assertThrows(IllegalArgumentException.class,
                () -> TrainingCurves.fromJsonl(metrics()).chart("x", 400, 300, "grad_norm"));
    }

    @Test
    void thePictureHasThreePanelsWithSomethingDrawnInEach() throws Exception {
        BufferedImage img = TrainingCurves.fromJsonl(metrics()).picture(900, 300);
        assertEquals(900, img.getWidth());
        assertEquals(300, img.getHeight());
        for (int panel = 0; panel < 3; panel++) {
            int coloured = 0;
            for (int x = panel * 300; x < (panel + 1) * 300; x++) {
                for (int y = 0; y < 300; y++) {
                    int rgb = img.getRGB(x, y) & 0xffffff;
                    int r = rgb >> 16;
                    int g = (rgb >> 8) & 0xff;
                    int b = rgb & 0xff;
                    if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 80) {
                        coloured++; // a saturated pixel: a series, not axes, text or background
                    }
                }
            }
            assertTrue(coloured > 50, "panel " + panel + " has " + coloured + " series pixels");
        }
    }

    @Test
    void dl4jListenerHistoryCountsStepsFromOne() {
        TrainingCurves c = TrainingCurves.fromHistory(List.of(
                Map.of("iteration", 0.0, "loss", 0.7), Map.of("iteration", 1.0, "loss", 0.6)));
        assertArrayEquals(new double[]{1, 2}, c.steps("loss"));
        assertArrayEquals(new double[]{0.7, 0.6}, c.values("loss"));
    }

    @Test
    void aBrokenLineIsReportedWithItsNumber() throws Exception {
        Path f = dir.resolve("bad.jsonl");
        Files.writeString(f, "{\"step\":1,\"loss\":0.5}\n{\"loss\":0.4}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainingCurves.fromJsonl(f));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }
}
