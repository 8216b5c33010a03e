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
 * The PNG chart of {@code bench training}: per profile, grouped bars of our speedup, the ideal and the paper's
 * number, for (c)/(b) (sharing, no packing) and (d)/(e) (sharing + packing against paired + packing). Drawn with
 * Java2D (headless), so the report needs no charting dependency.
 */
public final class SpeedupChart {

    private static final Color OURS = new Color(0x1f77b4);
    private static final Color IDEAL = new Color(0xbbbbbb);
    private static final Color PAPER = new Color(0xff7f0e);

    private SpeedupChart() {
    }

    /** Writes the chart. */
    public static void write(Result r, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<ProfileResult> ps = r.profiles();
        int panelW = Math.max(420, 110 * ps.size() + 80);
        int w = panelW * 2 + 40;
        int h = 420;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double max = 1.0;
        for (ProfileResult p : ps) {
            for (double v : new double[]{p.speedup_shared(), p.ideal_shared(), p.paper_shared(),
                    p.speedup_packed_vs_paired_packed(), p.ideal_packed_vs_paired_packed(), p.paper_packed()}) {
                if (Double.isFinite(v)) {
                    max = Math.max(max, v);
                }
            }
        }
        max = Math.ceil(max * 4 + 0.5) / 4;
        panel(g, 20, panelW, h, "prefix sharing vs paired, no packing: (c)/(b)", ps, max, true);
        panel(g, 20 + panelW + 20, panelW, h, "sharing + packing vs paired + packing: (d)/(e)", ps, max, false);
        legend(g, 65, h - 24);
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }

    private static void panel(Graphics2D g, int x0, int pw, int h, String title, List<ProfileResult> ps, double max,
                              boolean shared) {
        int top = 50;
        int bottom = h - 60;
        int left = x0 + 45;
        int right = x0 + pw - 10;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, left, 30);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (double v = 0; v <= max + 1e-9; v += 0.25) {
            int y = bottom - (int) Math.round((bottom - top) * v / max);
            g.setColor(v == 1.0 ? Color.DARK_GRAY : new Color(0xeeeeee));
            g.setStroke(new BasicStroke(v == 1.0 ? 1.5f : 1f));
            g.drawLine(left, y, right, y);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), x0 + 5, y + 4);
        }
        int slot = (right - left) / Math.max(1, ps.size());
        int bw = Math.max(6, (slot - 16) / 3);
        for (int i = 0; i < ps.size(); i++) {
            ProfileResult p = ps.get(i);
            double[] v = shared
                    ? new double[]{p.speedup_shared(), p.ideal_shared(), p.paper_shared()}
                    : new double[]{p.speedup_packed_vs_paired_packed(), p.ideal_packed_vs_paired_packed(),
                    p.paper_packed()};
            Color[] c = {OURS, IDEAL, PAPER};
            int sx = left + i * slot + 8;
            for (int j = 0; j < 3; j++) {
                if (!Double.isFinite(v[j])) {
                    continue;
                }
                int bh = (int) Math.round((bottom - top) * v[j] / max);
                g.setColor(c[j]);
                g.fillRect(sx + j * bw, bottom - bh, bw - 2, bh);
                g.setColor(Color.BLACK);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 9));
                g.drawString(String.format(Locale.ROOT, "%.2f", v[j]), sx + j * bw - 2, bottom - bh - 3);
            }
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            String name = p.name().length() > 14 ? p.name().substring(0, 14) : p.name();
            g.drawString(name, sx, bottom + 16);
        }
        g.setColor(Color.BLACK);
        g.drawLine(left, bottom, right, bottom);
        g.drawString("speedup (x)", x0 + 5, top - 12);
    }

    private static void legend(Graphics2D g, int x, int y) {
        String[] names = {"ours", "ideal (token ratio)", "paper (Mistral-7B, H100)"};
        Color[] c = {OURS, IDEAL, PAPER};
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        int at = x;
        for (int i = 0; i < 3; i++) {
            g.setColor(c[i]);
            g.fillRect(at, y, 10, 10);
            g.setColor(Color.BLACK);
            g.drawString(names[i], at + 14, y + 10);
            at += 14 + g.getFontMetrics().stringWidth(names[i]) + 12;
        }
    }
}
