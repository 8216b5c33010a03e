package org.prefixshare.notebook;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Cells evaluated in this JVM: values as objects, state across cells, output, errors a user can act on. */
class CellEvaluatorTest {

    private static CellEvaluator cells;

    @BeforeAll
    static void start() {
        cells = new CellEvaluator(System.getProperty("java.class.path"), NotebookKernel.PRELUDE);
    }

    @AfterAll
    static void stop() {
        cells.close();
    }

    @Test
    void aCellsValueIsTheObjectItself() throws Exception {
        Object v = cells.eval("new java.awt.image.BufferedImage(3, 2, java.awt.image.BufferedImage.TYPE_INT_RGB)");
        BufferedImage img = assertInstanceOf(BufferedImage.class, v);
        assertEquals(3, img.getWidth());
        assertEquals(2, img.getHeight());
    }

    @Test
    void stateCarriesFromCellToCellAndTheLastSnippetIsTheValue() throws Exception {
        assertNull(cells.eval("int base = 20;\nint step = 11;"));
        assertEquals(42, cells.eval("int twice = 2 * step;\nbase + twice"));
        assertNull(cells.eval("base += 1;\nvoid bump() { base++; }\nbump();"));
        assertEquals(22, cells.eval("base"));
        assertSame(CellExecutionControl.NullValue.INSTANCE, cells.eval("String nothing = null;\nnothing"));
    }

    @Test
    void snippetsRunInThisJvmWithItsClassesAndStreams() throws Exception {
        // the same class object: snippets see this JVM's classes, not copies in another process
        assertSame(Display.class, cells.eval("org.prefixshare.notebook.Display.class"));
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            cells.eval("System.out.println(\"rows \" + (3 * 4));");
        } finally {
            System.setOut(old);
        }
        assertEquals("rows 12", buf.toString(StandardCharsets.UTF_8).strip());
    }

    @Test
    void displayIsImportedBeforeTheFirstCell() throws Exception {
        List<Object> shown = new ArrayList<>();
        Display.attach(shown::add);
        try {
            cells.eval("display(\"a picture would go here\");");
        } finally {
            Display.detach();
        }
        assertEquals(List.of("a picture would go here"), shown);
    }

    @Test
    void aCompileErrorNamesTheProblemAndTheLine() {
        CellException e = assertThrows(CellException.class,
                () -> cells.eval("int fine = 1;\nint broken = undefinedThing + fine;"));
        assertTrue(e.getMessage().startsWith("compilation error: cannot find symbol"), e.getMessage());
        assertTrue(e.detail().contains("int broken = undefinedThing + fine;"), e.detail());
        assertTrue(e.detail().contains("^"), e.detail());
    }

    @Test
    void aThrowingCellReportsTheExceptionAndStopsThere() throws Exception {
        CellException e = assertThrows(CellException.class, () -> cells.eval(
                "int before = 1;\nif (before == 1) throw new IllegalArgumentException(\"bad row 7\");\n"
                        + "int after = 2;"));
        assertEquals("java.lang.IllegalArgumentException: bad row 7", e.getMessage());
        assertTrue(e.detail().contains("\tat "), e.detail());
        assertThrows(CellException.class, () -> cells.eval("after"), "the snippet after the throw must not run");
    }

    @Test
    void causesAreReported() {
        CellException e = assertThrows(CellException.class, () -> cells.eval(
                "throw new IllegalStateException(\"outer\", new java.io.IOException(\"disk full\"));"));
        assertTrue(e.detail().contains("Caused by: java.io.IOException: disk full"), e.detail());
    }

    @Test
    void incompleteCodeIsAnErrorNotASilentSkip() {
        assertEquals("incomplete", cells.isComplete("for (int i = 0; i < 3; i++) {"));
        assertEquals("complete", cells.isComplete("int z = 3;"));
        assertThrows(CellException.class, () -> cells.eval("int w = 3;\nfor (int i = 0; i < 3; i++) {"));
    }

    @Test
    void completesNamesInScope() throws Exception {
        cells.eval("int completionTarget = 5;");
        CellEvaluator.Completions c = cells.complete("completionTa", 12);
        assertTrue(c.candidates().contains("completionTarget"), c.candidates().toString());
        assertEquals(0, c.start());
    }
}
