package org.prefixshare.viz;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.RowAssembler;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.SharedLayoutBuilder;
import org.prefixshare.ops.attention.AncestorMask;
import org.prefixshare.viz.MaskPicture.Role;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The mask picture against a row whose layout the test knows: two prefix-shared documents (a 4-token prompt and two
 * 2-token responses each, so 3 prompt tokens and two 3-token branches: 9 tokens a document) and 6 padding tokens.
 */
class MaskPictureTest {

    private static final int PX = 3;

    private static RowLayout row() {
        TokenizedExample a = new TokenizedExample(1, "test", new int[]{1, 2, 3, 4},
                List.of(new int[]{5, 6}, new int[]{7, 8}), 0);
        TokenizedExample b = new TokenizedExample(2, "test", new int[]{11, 12, 13, 14},
                List.of(new int[]{15, 16}, new int[]{17, 18}), 0);
        return RowAssembler.assemble(List.of(SharedLayoutBuilder.build(a), SharedLayoutBuilder.build(b)), 24, 0, 0,
                new ArrayList<>());
    }

    /** The colour at the centre of cell (q, k). */
    private static int at(MaskPicture p, BufferedImage img, int q, int k) {
        return img.getRGB(p.x(k) + PX / 2, p.y(q) + PX / 2) & 0xffffff;
    }

    private static int rgb(Color c) {
        return c.getRGB() & 0xffffff;
    }

    @Test
    void cellsAreColouredByTheKeysRoleWhereVisibleAndGreyWhereMasked() {
        RowLayout row = row();
        MaskPicture p = MaskPicture.of(row, row.length(), PX);
        BufferedImage img = p.image();
        int masked = rgb(MaskPicture.MASKED);
        // document 0: prompt t 0-2, chosen branch t 3-5, rejected branch t 6-8
        assertEquals(rgb(MaskPicture.colour(Role.PROMPT, 0)), at(p, img, 4, 0), "chosen sees its prompt");
        assertEquals(rgb(MaskPicture.colour(Role.PROMPT, 0)), at(p, img, 7, 2), "rejected sees the same prompt");
        assertEquals(rgb(MaskPicture.colour(Role.CHOSEN, 0)), at(p, img, 5, 3), "chosen sees itself");
        assertEquals(rgb(MaskPicture.colour(Role.REJECTED, 0)), at(p, img, 8, 6), "rejected sees itself");
        assertEquals(masked, at(p, img, 7, 4), "rejected never sees chosen");
        assertEquals(masked, at(p, img, 0, 1), "causal: no key after the query");
        // document 1: t 9-17, light shades
        assertEquals(rgb(MaskPicture.colour(Role.PROMPT, 1)), at(p, img, 13, 9));
        assertEquals(rgb(MaskPicture.colour(Role.REJECTED, 1)), at(p, img, 16, 15));
        assertEquals(masked, at(p, img, 13, 2), "documents never see each other");
        // padding t 18-23: itself only
        assertEquals(rgb(MaskPicture.colour(Role.PADDING, -1)), at(p, img, 20, 20));
        assertEquals(masked, at(p, img, 20, 19));
        assertEquals(masked, at(p, img, 20, 5));
    }

    @Test
    void rolesAndDocumentsAreReadFromTheLayout() {
        MaskPicture p = MaskPicture.of(row(), 24, PX);
        assertEquals(2, p.documentCount());
        Role[] expected = {Role.PROMPT, Role.PROMPT, Role.PROMPT, Role.CHOSEN, Role.CHOSEN, Role.CHOSEN,
                Role.REJECTED, Role.REJECTED, Role.REJECTED};
        for (int t = 0; t < 18; t++) {
            assertEquals(expected[t % 9], p.role(t), "t=" + t);
            assertEquals(t / 9, p.document(t), "t=" + t);
        }
        for (int t = 18; t < 24; t++) {
            assertEquals(Role.PADDING, p.role(t));
        }
        assertEquals(Role.MIDDLE, MaskPicture.of(threeResponses(), 16, 1).role(7), "the second of three branches");
    }

    private static RowLayout threeResponses() {
        TokenizedExample e = new TokenizedExample(3, "test", new int[]{1, 2, 3},
                List.of(new int[]{4, 5}, new int[]{6, 7}, new int[]{8, 9}), 0);
        return SharedLayoutBuilder.build(e).toRow(); // prompt t 0-1, branches t 2-4, 5-7, 8-10
    }

    @Test
    void visibleCellsAreExactlyTheAncestorRulesPairs() {
        RowLayout row = row();
        MaskPicture p = MaskPicture.of(row, row.length(), PX);
        BufferedImage img = p.image();
        long coloured = 0;
        for (int q = 0; q < row.length(); q++) {
            for (int k = 0; k < row.length(); k++) {
                if (at(p, img, q, k) != rgb(MaskPicture.MASKED)) {
                    coloured++;
                }
            }
        }
        assertEquals(AncestorMask.visiblePairs(row.node(), row.subtreeEnd()), coloured);
    }

    @Test
    void aLongRowIsCutToTheTokensAsked() {
        RowLayout row = row();
        MaskPicture p = MaskPicture.of(row, 10, 2);
        BufferedImage img = p.image();
        // the grid ends after 10 tokens: the pixel right after it is background, not a cell
        assertEquals(0xffffff, img.getRGB(p.x(10) + 1, p.y(0)) & 0xffffff);
        assertEquals(rgb(MaskPicture.colour(Role.CHOSEN, 0)), img.getRGB(p.x(3), p.y(3)) & 0xffffff);
    }
}
