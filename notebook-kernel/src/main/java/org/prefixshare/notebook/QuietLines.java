package org.prefixshare.notebook;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A stream that passes whole lines to another, except lines starting with one of a few prefixes. The kernel puts
 * it in front of a cell's standard output to drop ND4J 1.0.0-M2.1's {@code "Added differentiated op ..."}, a line
 * printed for every op each time SameDiff builds a gradient graph (the CLI's {@code check equivalence} drops them
 * the same way). Text without a newline yet is held until the newline or {@link #flush()}.
 */
final class QuietLines extends OutputStream {

    /** Line starts the kernel drops. */
    static final List<String> DROPPED = List.of("Added differentiated op ");

    private final PrintStream target;
    private final List<String> dropped;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    QuietLines(PrintStream target, List<String> dropped) {
        this.target = target;
        this.dropped = dropped;
    }

    /**
     * {@code target} behind a filter of {@link #DROPPED}: each whole line reaches {@code target} as soon as it is
     * written (no auto-flush here, which would hand over partial lines).
     */
    static PrintStream over(PrintStream target) {
        return new PrintStream(new QuietLines(target, DROPPED), false, StandardCharsets.UTF_8);
    }

    @Override
    public synchronized void write(int b) {
        line.write(b);
        if (b == '\n') {
            emit();
        }
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            write(b[i]);
        }
    }

    private void emit() {
        String text = line.toString(StandardCharsets.UTF_8);
        line.reset();
        for (String d : dropped) {
            if (text.startsWith(d)) {
                return;
            }
        }
        target.print(text);
    }

    @Override
    public synchronized void flush() {
        if (line.size() > 0) {
            emit();
        }
        target.flush();
    }
}
