package org.prefixshare.bench.training;

import org.prefixshare.bench.training.TrainingBenchmark.ProfileResult;
import org.prefixshare.bench.training.TrainingBenchmark.Result;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The PNG charts of the benches, drawn with Java2D (headless), so the reports need no charting dependency: panels of
 * grouped bars, one group per profile and one bar per series, each bar labelled with its value. {@code bench training}
 * draws, per profile, our speedup, the ideal and the paper's number, for (c)/(b) (sharing, no packing) and (d)/(e)
 * (sharing + packing against paired + packing); {@code bench peers} draws ours over PyTorch per model.
 */
public final class SpeedupChart {

    private static final Color OURS = new Color(0x1f77b4);
    private static final Color IDEAL = new Color(0xbbbbbb);
    private static final Color PAPER = new Color(0xff7f0e);

    /**
     * One panel of grouped bars.
     *
     * @param title  above the panel
     * @param groups one label per group (profile)
     * @param values per group, one value per series (NaN: no bar)
     * @param marks  values whose horizontal line is drawn dark (1.0 = parity; a goal)
     */
    public record Panel(String title, List<String> groups, List<double[]> values, double[] marks) {
    }

    private SpeedupChart() {
    }

    /** Writes {@code bench training}'s chart. */
    public static void write(Result r, Path png) throws IOException {
        List<ProfileResult> ps = r.profiles();
        List<String> names = ps.stream().map(ProfileResult::name).toList();
        List<double[]> shared = ps.stream().map(p -> new double[]{p.speedup_shared(), p.ideal_shared(),
                p.paper_shared()}).toList();
        List<double[]> packed = ps.stream().map(p -> new double[]{p.speedup_packed_vs_paired_packed(),
                p.ideal_packed_vs_paired_packed(), p.paper_packed()}).toList();
        write(png, List.of(new Panel("prefix sharing vs paired, no packing: (c)/(b)", names, shared, new double[]{1}),
                        new Panel("sharing + packing vs paired + packing: (d)/(e)", names, packed, new double[]{1})),
                List.of("ours", "ideal (token ratio)", "paper (Mistral-7B, H100)"), List.of(OURS, IDEAL, PAPER));
    }

    /** Writes panels side by side; series named and coloured in order, a legend below. */
    public static void write(Path png, List<Panel> panels, List<String> series, List<Color> colors)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        int groups = panels.stream().mapToInt(p -> p.groups().size()).max().orElse(1);
        int panelW = Math.max(420, (30 + 27 * series.size()) * groups + 80);
        int legendW = 65 + series.stream().mapToInt(n -> 26 + 7 * n.length()).sum();
        int w = Math.max((panelW + 20) * panels.size() + 20, legendW + 20);
        int h = 420;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double max = 1.0;
        for (Panel p : panels) {
            for (double[] vs : p.values()) {
                for (double v : vs) {
                    if (Double.isFinite(v)) {
                        max = Math.max(max, v);
                    }
                }
            }
            for (double m : p.marks()) {
                max = Math.max(max, m);
            }
        }
        double step = max <= 3 ? 0.25 : max <= 6 ? 0.5 : 1;
        max = Math.ceil(max / step + 0.5) * step;
        for (int i = 0; i < panels.size(); i++) {
            panel(g, 20 + i * (panelW + 20), panelW, h, panels.get(i), max, step, colors);
        }
        legend(g, 65, h - 24, series, colors);
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }

    private static void panel(Graphics2D g, int x0, int pw, int h, Panel p, double max, double step,
                              List<Color> colors) {
        int top = 50;
        int bottom = h - 60;
        int left = x0 + 45;
        int right = x0 + pw - 10;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(p.title(), left, 30);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (double v = 0; v <= max + 1e-9; v += step) {
            int y = bottom - (int) Math.round((bottom - top) * v / max);
            boolean mark = false;
            for (double m : p.marks()) {
                mark |= Math.abs(v - m) < 1e-9;
            }
            g.setColor(mark ? Color.DARK_GRAY : new Color(0xeeeeee));
            g.setStroke(new BasicStroke(mark ? 1.5f : 1f));
            g.drawLine(left, y, right, y);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), x0 + 5, y + 4);
        }
        int slot = (right - left) / Math.max(1, p.groups().size());
        int series = colors.size();
        int bw = Math.max(6, (slot - 16) / series);
        for (int i = 0; i < p.groups().size(); i++) {
            double[] v = p.values().get(i);
            int sx = left + i * slot + 8;
            for (int j = 0; j < Math.min(series, v.length); j++) {
                if (!Double.isFinite(v[j])) {
                    continue;
                }
                int bh = (int) Math.round((bottom - top) * v[j] / max);
                g.setColor(colors.get(j));
                g.fillRect(sx + j * bw, bottom - bh, bw - 2, bh);
                g.setColor(Color.BLACK);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 9));
                g.drawString(String.format(Locale.ROOT, "%.2f", v[j]), sx + j * bw - 2, bottom - bh - 3);
            }
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            String name = p.groups().get(i);
            g.drawString(name.length() > 14 ? name.substring(0, 14) : name, sx, bottom + 16);
        }
        g.setColor(Color.BLACK);
        g.drawLine(left, bottom, right, bottom);
        g.drawString("speedup (x)", x0 + 5, top - 12);
    }

    private static void legend(Graphics2D g, int x, int y, List<String> names, List<Color> colors) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        int at = x;
        for (int i = 0; i < names.size(); i++) {
            g.setColor(colors.get(i));
            g.fillRect(at, y, 10, 10);
            g.setColor(Color.BLACK);
            g.drawString(names.get(i), at + 14, y + 10);
            at += 14 + g.getFontMetrics().stringWidth(names.get(i)) + 12;
        }
    }
}
