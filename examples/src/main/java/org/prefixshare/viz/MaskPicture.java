package org.prefixshare.viz;

import org.prefixshare.layout.RowLayout;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A picture of one row's attention mask: query tokens down, key tokens across, each visible (query, key) cell
 * coloured by what the key is (a prompt, the chosen response, a middle-ranked response, the rejected response,
 * padding) and masked cells pale grey. Documents alternate between full and light shades, and a strip along each
 * edge colours every token by its role, so the packed documents, their shared prompts and their branches can be
 * read off the picture. Visibility is {@link RowLayout#visible} (the ancestor rule,
 * {@link org.prefixshare.ops.attention.AncestorMask}); the roles come from the row's node / subtreeEnd arrays alone.
 *
 * <pre>{@code
 * display(MaskPicture.draw(batch.rows().get(0)));   // in a notebook
 * ImageIO.write(MaskPicture.draw(row), "png", file); // anywhere else
 * }</pre>
 */
public final class MaskPicture {

    /** What a token is, read from the row layout. */
    public enum Role {
        /** A token of an inner tree node: the prompt its document's responses share. */
        PROMPT(new Color(0x1f77b4), "prompt"),
        /** A token of its document's first branch (responses are laid out best first). */
        CHOSEN(new Color(0x2ca02c), "chosen (first branch)"),
        /** A branch between the first and the last (ranked data with more than two responses). */
        MIDDLE(new Color(0xff7f0e), "middle-ranked branch"),
        /** A token of its document's last branch. */
        REJECTED(new Color(0xd62728), "rejected (last branch)"),
        /** Padding after the row's used tokens: each token its own node, seeing only itself. */
        PADDING(new Color(0x7f7f7f), "padding");

        private final Color colour;
        private final String label;

        Role(Color colour, String label) {
            this.colour = colour;
            this.label = label;
        }

        /** The legend's words for it. */
        public String label() {
            return label;
        }
    }

    /** The colour of masked cells. */
    public static final Color MASKED = new Color(0xeeeeee);

    private static final Color BACKGROUND = Color.WHITE;
    private static final int STRIP = 6;        // the role strips along the top and left edges, in pixels
    private static final int GAP = 2;          // between a strip and the grid
    private static final int MARGIN = 10;
    private static final int TITLE = 26;
    private static final int LEGEND_ROW = 18;
    private static final Font TITLE_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 13);
    private static final Font LEGEND_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 11);

    private final RowLayout row;
    private final int n;
    private final int px;
    private final Role[] roles;
    private final int[] documents;
    private final int documentCount;

    private MaskPicture(RowLayout row, int maxTokens, int pixelsPerToken) {
        if (maxTokens < 1 || pixelsPerToken < 1) {
            throw new IllegalArgumentException("maxTokens and pixelsPerToken must be >= 1, got " + maxTokens + " and "
                    + pixelsPerToken);
        }
        this.row = row;
        this.n = Math.min(row.length(), maxTokens);
        this.px = pixelsPerToken;
        this.roles = new Role[row.length()];
        this.documents = new int[row.length()];
        this.documentCount = classify(row, roles, documents);
    }

    /**
     * The picture of a whole row (rows longer than 768 tokens: their first 768), at as many pixels per token as
     * keep it about 600 pixels wide.
     */
    public static BufferedImage draw(RowLayout row) {
        int tokens = Math.min(row.length(), 768);
        return of(row, tokens, Math.max(1, 600 / Math.max(1, tokens))).image();
    }

    /** The picture of the row's first {@code maxTokens} tokens at {@code pixelsPerToken} pixels each. */
    public static MaskPicture of(RowLayout row, int maxTokens, int pixelsPerToken) {
        return new MaskPicture(row, maxTokens, pixelsPerToken);
    }

    /** The colour of a visible cell whose key has {@code role} and lies in document number {@code document}. */
    public static Color colour(Role role, int document) {
        if (role == Role.PADDING || document % 2 == 0) {
            return role.colour;
        }
        Color c = role.colour; // odd documents: the same hue, 45% of the way to white
        return new Color(light(c.getRed()), light(c.getGreen()), light(c.getBlue()));
    }

    private static int light(int v) {
        return (int) Math.round(v + (255 - v) * 0.45);
    }

    /** The role of token t. */
    public Role role(int t) {
        return roles[t];
    }

    /** The document number of token t (0 for the row's first document; padding belongs to none: -1). */
    public int document(int t) {
        return documents[t];
    }

    /** Documents in the row. */
    public int documentCount() {
        return documentCount;
    }

    /** Left pixel column of key k's cells. */
    public int x(int k) {
        return MARGIN + STRIP + GAP + k * px;
    }

    /** Top pixel row of query q's cells. */
    public int y(int q) {
        return TITLE + STRIP + GAP + q * px;
    }

    /** Draws the picture. */
    public BufferedImage image() {
        int grid = n * px;
        int width = Math.max(x(0) + grid + MARGIN, 480);
        List<List<LegendItem>> legendRows = legendRows(width);
        int height = y(0) + grid + 8 + LEGEND_ROW * legendRows.size() + 4;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(BACKGROUND);
            g.fillRect(0, 0, width, height);
            for (int t = 0; t < n; t++) {
                g.setColor(colour(roles[t], documents[t]));
                g.fillRect(x(t), TITLE, px, STRIP);             // keys, along the top
                g.fillRect(MARGIN, y(t), STRIP, px);            // queries, down the left
            }
            int masked = MASKED.getRGB();
            for (int q = 0; q < n; q++) {
                for (int k = 0; k < n; k++) {
                    int rgb = row.visible(q, k) ? colour(roles[k], documents[k]).getRGB() : masked;
                    for (int dy = 0; dy < px; dy++) {
                        for (int dx = 0; dx < px; dx++) {
                            img.setRGB(x(k) + dx, y(q) + dy, rgb);
                        }
                    }
                }
            }
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.BLACK);
            g.setFont(TITLE_FONT);
            g.drawString(title(), MARGIN, 17);
            g.setFont(LEGEND_FONT);
            int baseline = y(0) + grid + 8 + 12;
            for (List<LegendItem> line : legendRows) {
                int x = MARGIN;
                for (LegendItem item : line) {
                    g.setColor(item.colour());
                    g.fillRect(x, baseline - 9, 10, 10);
                    g.setColor(Color.DARK_GRAY);
                    g.drawString(item.label(), x + 14, baseline);
                    x += item.width();
                }
                baseline += LEGEND_ROW;
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    /** One legend entry: a swatch of {@code colour}, its label, and the width both take. */
    private record LegendItem(Color colour, String label, int width) {
    }

    /** The legend's entries, in as many lines as the picture's width needs. */
    private static List<List<LegendItem>> legendRows(int width) {
        Graphics2D probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        FontMetrics fm = probe.getFontMetrics(LEGEND_FONT);
        probe.dispose();
        List<LegendItem> items = new ArrayList<>();
        for (Role r : Role.values()) {
            items.add(new LegendItem(colour(r, 0), r.label(), 28 + fm.stringWidth(r.label())));
        }
        items.add(new LegendItem(MASKED, "masked", 28 + fm.stringWidth("masked")));
        List<List<LegendItem>> rows = new ArrayList<>();
        List<LegendItem> line = new ArrayList<>();
        int x = MARGIN;
        for (LegendItem item : items) {
            if (!line.isEmpty() && x + item.width() > width - MARGIN) {
                rows.add(line);
                line = new ArrayList<>();
                x = MARGIN;
            }
            line.add(item);
            x += item.width();
        }
        rows.add(line);
        return rows;
    }

    private String title() {
        String cut = n < row.length() ? String.format(Locale.ROOT, " (first %d shown)", n) : "";
        return String.format(Locale.ROOT, "attention mask: %d tokens%s, %d documents, %d used, %.1f%% visible",
                row.length(), cut, documentCount, row.used(), 100 * row.visibleFraction());
    }

    /**
     * Roles and documents of every token, from the layout: tokens at or after {@code used} are padding; a document
     * starts where a token's node lies outside the subtree of the current document's first node; in a document,
     * inner nodes (subtreeEnd > node) are prompt, and leaf nodes are branches numbered in order of appearance (the
     * first chosen, the last rejected). A document whose prompt node holds no tokens (a prompt of at most one
     * token) shows as one document per branch.
     *
     * @return the number of documents
     */
    private static int classify(RowLayout row, Role[] roles, int[] documents) {
        int docs = 0;
        int start;
        int t = 0;
        while (t < row.used()) {
            start = t;
            int rootNode = row.node(t);
            int rootEnd = row.subtreeEnd(t);
            t++;
            while (t < row.used() && row.node(t) >= rootNode && row.node(t) <= rootEnd) {
                t++;
            }
            // leaves of this document, numbered by first appearance
            int leaves = 0;
            int lastLeafNode = Integer.MIN_VALUE;
            for (int i = start; i < t; i++) {
                if (row.subtreeEnd(i) == row.node(i) && row.node(i) != lastLeafNode) {
                    leaves++;
                    lastLeafNode = row.node(i);
                }
            }
            int leaf = -1;
            lastLeafNode = Integer.MIN_VALUE;
            for (int i = start; i < t; i++) {
                documents[i] = docs;
                if (row.subtreeEnd(i) > row.node(i)) {
                    roles[i] = Role.PROMPT;
                    continue;
                }
                if (row.node(i) != lastLeafNode) {
                    leaf++;
                    lastLeafNode = row.node(i);
                }
                roles[i] = leaf == 0 ? Role.CHOSEN : leaf == leaves - 1 ? Role.REJECTED : Role.MIDDLE;
            }
            docs++;
        }
        for (int p = row.used(); p < row.length(); p++) {
            roles[p] = Role.PADDING;
            documents[p] = -1;
        }
        return docs;
    }
}
