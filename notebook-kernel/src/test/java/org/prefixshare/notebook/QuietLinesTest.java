package org.prefixshare.notebook;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class QuietLinesTest {

    @Test
    void dropsOnlyWholeLinesWithTheGivenStartAndKeepsTheRestInOrder() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = QuietLines.over(new PrintStream(buf, true, StandardCharsets.UTF_8));
        out.println("step 1");
        out.println("Added differentiated op matmul_1");
        out.print("loss ");
        out.print("0.69");
        out.println();
        out.println("note: Added differentiated op is not at the start here");
        out.print("no newline yet");
        assertEquals("step 1\nloss 0.69\nnote: Added differentiated op is not at the start here\n",
                buf.toString(StandardCharsets.UTF_8));
        out.flush();
        assertEquals("step 1\nloss 0.69\nnote: Added differentiated op is not at the start here\nno newline yet",
                buf.toString(StandardCharsets.UTF_8));
    }
}
