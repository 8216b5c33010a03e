package org.prefixshare.notebook;

import io.github.spencerpark.jupyter.kernel.display.DisplayData;
import io.github.spencerpark.jupyter.kernel.display.mime.MIMEType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the kernel sends for a cell: PNG pictures for images, text otherwise, readable errors. */
class NotebookKernelTest {

    private static NotebookKernel kernel;

    @BeforeAll
    static void start() {
        kernel = new NotebookKernel(System.getProperty("java.class.path"));
    }

    @AfterAll
    static void stop() {
        kernel.onShutdown(false);
    }

    @Test
    void anImageIsSentAsAPngOfTheSamePixels() throws Exception {
        DisplayData d = kernel.eval("""
                var img = new java.awt.image.BufferedImage(4, 3, java.awt.image.BufferedImage.TYPE_INT_RGB);
                img.setRGB(2, 1, 0xff8800);
                img""");
        assertNotNull(d);
        String b64 = (String) d.getData(MIMEType.IMAGE_PNG);
        assertNotNull(b64, "image/png missing");
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
        assertEquals(4, back.getWidth());
        assertEquals(3, back.getHeight());
        assertEquals(0xff8800, back.getRGB(2, 1) & 0xffffff);
        assertEquals(0, back.getRGB(0, 0) & 0xffffff);
    }

    @Test
    void otherValuesAreTheirText() throws Exception {
        assertEquals("[1, 2]", kernel.eval("java.util.List.of(1, 2)").getData(MIMEType.TEXT_PLAIN));
        assertEquals("null", kernel.eval("(Object) null").getData(MIMEType.TEXT_PLAIN));
        assertNull(kernel.eval("int quiet = 1;"), "a declaration shows nothing");
    }

    @Test
    void errorsShowTheirSummaryThenTheirDetail() {
        Exception e = null;
        try {
            kernel.eval("Integer.parseInt(\"x7\")");
        } catch (Exception ex) {
            e = ex;
        }
        assertNotNull(e);
        List<String> lines = kernel.formatError(e);
        assertTrue(lines.get(0).contains("java.lang.NumberFormatException: For input string: \"x7\""), lines.get(0));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("\tat ")), lines.toString());
        assertFalse(lines.stream().anyMatch(l -> l.contains("CellExecutionControl") || l.contains("ThreadPoolExecutor")), "kernel frames are not the user's");
    }
}
