package org.prefixshare.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The standard-output filter drops the libraries' lines whole (no blank line left) and keeps everything else. */
class ConsoleLoggingTest {

    @Test
    void noiseLinesGoWithoutATraceAndOtherOutputPassesAsIs() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        PrintStream out = ConsoleLogging.withoutNoise(new PrintStream(b, true, StandardCharsets.UTF_8));
        out.println("data: 40 examples");
        out.println("Added differentiated op matmul_4"); // SameDiff's println: text, a flush, then the line end
        out.println("Added differentiated op identity");
        out.print("Add"); // a line that starts like the noise but is not
        out.println("ed 3 rows");
        out.print("partial");
        out.flush();
        assertEquals("data: 40 examples\nAdded 3 rows\npartial", b.toString(StandardCharsets.UTF_8)
                .replace(System.lineSeparator(), "\n"));
    }
}
