package org.prefixshare.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How {@code prefixshare} reports a command that fails: bad input as a message, a bug with its stack trace. */
class PrefixShareCliTest {

    @TempDir
    Path dir;

    @Test
    void badInputPrintsItsMessageWithoutAStackTrace() {
        // refused while the workloads are built, before any worker starts
        CliRun r = CliRun.of("bench", "training", "--quick", "--pack-length", "64", "--profiles", "Capybara",
                "--modes", "d,e");
        assertEquals(PrefixShareCli.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("prefixshare training: pack length 64 is shorter than the longest document of "
                + "workload Capybara"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void aMissingInputFileIsNamed() {
        Path missing = dir.resolve("missing.jsonl");
        CliRun r = CliRun.of("data", "stats", "--input", missing.toString(), "--pack-length", "256");
        assertEquals(PrefixShareCli.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains(missing.toString()), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void anyOtherFailureIsABugAndKeepsItsStackTrace() {
        assertNull(PrefixShareCli.badInputMessage(new IllegalStateException("a bug")));
        assertNull(PrefixShareCli.badInputMessage(new NullPointerException()));
    }
}
