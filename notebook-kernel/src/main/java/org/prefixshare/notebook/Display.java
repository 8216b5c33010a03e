package org.prefixshare.notebook;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * What notebook cells call to show something below the cell, besides the cell's own value. Every cell can call
 * {@code display(x)}: the kernel imports it before the first cell.
 *
 * <pre>{@code
 * display(MaskPicture.draw(row));      // a java.awt.image.BufferedImage: shown as a PNG picture
 * display("packed " + rows + " rows"); // anything else: its text
 * }</pre>
 */
public final class Display {

    private static volatile Consumer<Object> target;

    private Display() {
    }

    /**
     * Shows {@code value} in the notebook: a {@link java.awt.image.RenderedImage} (e.g. a {@code BufferedImage}) as
     * a PNG image, anything else as its {@code toString()}.
     *
     * @throws IllegalStateException when no notebook kernel runs this JVM
     */
    public static void display(Object value) {
        Consumer<Object> t = target;
        if (t == null) {
            throw new IllegalStateException("display() shows output in a notebook; it needs the prefixshare notebook "
                    + "kernel (examples/notebooks/install-kernel.sh), and this JVM was not started by it");
        }
        t.accept(value);
    }

    /** Routes {@link #display} to the running kernel (or, in tests, to a collector). */
    static void attach(Consumer<Object> sink) {
        target = Objects.requireNonNull(sink, "sink");
    }

    /** Undoes {@link #attach}. */
    static void detach() {
        target = null;
    }
}
