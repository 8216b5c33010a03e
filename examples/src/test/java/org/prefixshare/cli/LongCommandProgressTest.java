package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A long command says what it is doing on standard error; standard output keeps --json's last line. */
class LongCommandProgressTest {

    @Test
    void benchTrainingShowsModeProfileAndStepOnStderr() throws Exception {
        PrintStream out0 = System.out;
        PrintStream err0 = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CliRun r;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            r = CliRun.of("bench", "training", "--in-process", "--model", "tiny", "--profiles", "TLDR", "--modes",
                    "d,e", "--length-divisor", "40", "--examples-per-step", "2", "--tokens-per-step", "0", "--warmup",
                    "1", "--steps", "1", "--packed-steps", "2", "--repeats", "1", "--json");
        } finally {
            System.setOut(out0);
            System.setErr(err0);
        }
        String stdout = out.toString(StandardCharsets.UTF_8);
        String stderr = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, r.code(), r.err() + stderr);
        String[] lines = stdout.strip().split("\n");
        assertTrue(new ObjectMapper().readTree(lines[lines.length - 1]).has("profiles"), stdout);
        assertFalse(stdout.contains("bench training: "), "no progress on stdout: " + stdout);
        assertTrue(stderr.contains("bench training: TLDR (1/1): preparing (d), 1 warm-up steps"), stderr);
        assertTrue(stderr.contains("bench training: TLDR (1/1): (d)+(e) pass 1/1, timed step 2/2 | 100%"), stderr);
        assertTrue(stderr.contains("elapsed"), stderr);
    }
}
