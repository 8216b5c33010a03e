package org.prefixshare.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every failure caused by the user's files or flags exits 2 with one line naming the file and the problem; a stack
 * trace only with --verbose.
 */
class UserFileErrorsTest {

    private static final String GOOD = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}";

    @TempDir
    Path dir;

    /** The run failed on bad input with exactly one line on stderr, naming {@code what}, and no stack trace. */
    private static void assertOneLine(CliRun r, String... what) {
        assertEquals(PrefixShareCli.BAD_INPUT, r.code(), r.err() + r.out());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line: " + r.err());
        for (String w : what) {
            assertTrue(lines[0].contains(w), "names " + w + ": " + r.err());
        }
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void twoObjectsOnOneLineNameTheLine() throws IOException {
        Path f = dir.resolve("two.jsonl");
        Files.writeString(f, GOOD + "\n" + GOOD + " " + GOOD + "\n");
        assertOneLine(CliRun.of("train", "--input", f.toString(), "--output", dir.resolve("run").toString()),
                f + ":2", "trailing_data");
    }

    @Test
    void aTruncatedGzipNamesTheFile() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (OutputStream o = new GZIPOutputStream(b)) {
            for (int i = 0; i < 3000; i++) {
                o.write((GOOD.replace("\"p\"", "\"p" + i + "\"") + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        Path f = dir.resolve("data.jsonl.gz");
        Files.write(f, Arrays.copyOf(b.toByteArray(), b.size() / 2));
        assertOneLine(CliRun.of("train", "--input", f.toString(), "--output", dir.resolve("run").toString()),
                f.toString(), "gzip");
        assertOneLine(CliRun.of("data", "stats", "--input", f.toString(), "--pack-length", "256"), f.toString(),
                "gzip");
    }

    @Test
    void aCorruptTokenizerJsonIsOneLine() throws IOException {
        Path tok = dir.resolve("tokenizer.json");
        byte[] real = Files.readAllBytes(TestData.llama2Tokenizer());
        Files.write(tok, Arrays.copyOf(real, 5000));
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, GOOD + "\n");
        assertOneLine(CliRun.of("data", "stats", "--input", data.toString(), "--pack-length", "256", "--tokenizer",
                tok.toString()), tok.toString());
        // valid JSON, but not a tokenizer
        Files.writeString(tok, "{\"model\": 7}");
        assertOneLine(CliRun.of("data", "stats", "--input", data.toString(), "--pack-length", "256", "--tokenizer",
                tok.toString()), tok.toString());
    }

    @Test
    void aCorruptTokenizerConfigOrChatTemplateIsOneLine() throws IOException {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, GOOD + "\n");
        Path cfg = dir.resolve("tokenizer_config.json");
        Files.writeString(cfg, "{\"chat_template\": \"{% for m in messages %}\", ");
        assertOneLine(CliRun.of("data", "stats", "--input", data.toString(), "--pack-length", "256",
                "--chat-template", cfg.toString()), cfg.toString());
        Files.writeString(cfg, "{\"chat_template\": 42}");
        assertOneLine(CliRun.of("data", "stats", "--input", data.toString(), "--pack-length", "256",
                "--chat-template", cfg.toString()), cfg.toString());
    }

    @Test
    void verboseAddsTheStackTrace() throws IOException {
        Path f = dir.resolve("two.jsonl");
        Files.writeString(f, GOOD + " " + GOOD + "\n");
        CliRun r = CliRun.of("--verbose", "data", "stats", "--input", f.toString(), "--pack-length", "256");
        assertEquals(PrefixShareCli.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains(f + ":1"), r.err());
        assertTrue(r.err().contains("\tat "), "--verbose shows where: " + r.err());
        // the option also works after the command's name
        CliRun after = CliRun.of("data", "stats", "--input", f.toString(), "--pack-length", "256", "--verbose");
        assertTrue(after.err().contains("\tat "), after.err());
    }
}
