package org.prefixshare.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nothing a file holds is lost or guessed at: a second value on a JSONL line, trailing text, duplicate keys and a
 * truncated or corrupt gzip stream are errors naming the file and the line (or, with skipInvalid, counted by reason;
 * a corrupt stream is never skipped).
 */
class StrictReaderTest {

    private static final String GOOD = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}";

    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static List<PreferenceExample> read(Path p) {
        return new PreferenceReader(ReaderOptions.of(PreferenceFormat.PROMPT)).readAll(p);
    }

    private static InvalidInputException failure(Path p) {
        return assertThrows(InvalidInputException.class, () -> read(p));
    }

    @Test
    void twoObjectsOnOneLineAreAnError() throws IOException {
        Path p = write("two.jsonl", GOOD + "\n" + GOOD + " " + GOOD.replace("\"p\"", "\"q\"") + "\n" + GOOD + "\n");
        InvalidInputException e = failure(p);
        assertEquals(InvalidReason.TRAILING_DATA, e.reason(), e.getMessage());
        assertEquals(2, e.line());
        assertTrue(e.getMessage().startsWith(p + ":2: "), e.getMessage());
        assertTrue(e.getMessage().contains("one record per line"), e.getMessage());
    }

    @Test
    void trailingTextAfterAnObjectIsAnError() throws IOException {
        for (String tail : List.of(" garbage", "}", " ,", " 7", " []")) {
            Path p = write("tail.jsonl", GOOD + "\n" + GOOD + tail + "\n");
            InvalidInputException e = failure(p);
            assertEquals(InvalidReason.TRAILING_DATA, e.reason(), tail + ": " + e.getMessage());
            assertEquals(2, e.line(), e.getMessage());
        }
        // trailing white space (and a CRLF line end) is fine
        assertEquals(2, read(write("ws.jsonl", GOOD + " \t\r\n" + GOOD + "\r\n")).size());
    }

    @Test
    void duplicateKeysAreAnErrorNamingTheKey() throws IOException {
        Path p = write("dup.jsonl", GOOD
                + "\n{\"prompt\":\"p\",\"chosen\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n");
        InvalidInputException e = failure(p);
        assertEquals(InvalidReason.DUPLICATE_KEY, e.reason(), e.getMessage());
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("'chosen'"), e.getMessage());
        // nested: a message object with two "content" keys
        Path c = write("dup-conv.jsonl", "{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\",\"content\":\"ho\"}],"
                + "\"chosen\":[{\"role\":\"assistant\",\"content\":\"a\"}],"
                + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\n");
        InvalidInputException ec = assertThrows(InvalidInputException.class, () -> new PreferenceReader(
                ReaderOptions.of(PreferenceFormat.CONVERSATIONAL)).readAll(c));
        assertEquals(InvalidReason.DUPLICATE_KEY, ec.reason(), ec.getMessage());
        assertEquals("prompt[0].content", ec.field(), ec.getMessage());
    }

    @Test
    void jsonArraysAreStrictToo() throws IOException {
        Path dup = write("dup.json", "[\n" + GOOD + ",\n{\"prompt\":\"p\",\"prompt\":\"q\",\"chosen\":\"a\","
                + "\"rejected\":\"b\"},\n" + GOOD + "\n]\n");
        InvalidInputException e = failure(dup);
        assertEquals(InvalidReason.DUPLICATE_KEY, e.reason(), e.getMessage());
        assertEquals(3, e.line(), e.getMessage());
        // with skipInvalid the element is counted and the rest of the array is read
        ReadCounts counts = new ReadCounts();
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.PROMPT)
                .withSkipInvalid(true)).readAll(dup, counts);
        assertEquals(2, es.size());
        assertEquals(1L, counts.skipped().get("duplicate_key"), counts.toString());

        Path after = write("after.json", "[" + GOOD + "]\n[" + GOOD + "]\n");
        InvalidInputException ea = failure(after);
        assertEquals(InvalidReason.TRAILING_DATA, ea.reason(), ea.getMessage());
        assertEquals(2, ea.line(), ea.getMessage());
    }

    @Test
    void skipInvalidCountsTheNewReasons() throws IOException {
        Path p = write("s.jsonl", GOOD + "\n" + GOOD + GOOD + "\n" + GOOD + " x\n"
                + "{\"prompt\":\"p\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n" + GOOD + "\n");
        ReadCounts counts = new ReadCounts();
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.PROMPT)
                .withSkipInvalid(true)).readAll(p, counts);
        assertEquals(2, es.size());
        assertEquals(2L, counts.skipped().get("trailing_data"), counts.toString());
        assertEquals(1L, counts.skipped().get("duplicate_key"), counts.toString());
        assertEquals(5, counts.records());
    }

    @Test
    void truncatedGzipIsAnErrorNamingTheFileEvenWhenSkippingInvalidRecords() throws IOException {
        byte[] gz = gzip(GOOD + "\n", 2000);
        Path p = dir.resolve("data.jsonl.gz");
        Files.write(p, Arrays.copyOf(gz, gz.length / 2));
        for (boolean skip : new boolean[]{false, true}) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> new PreferenceReader(
                    ReaderOptions.of(PreferenceFormat.PROMPT).withSkipInvalid(skip)).readAll(p));
            assertEquals(InvalidReason.CORRUPT_FILE, e.reason(), e.getMessage());
            assertTrue(e.getMessage().startsWith(p.toString() + ":"), e.getMessage());
            assertTrue(e.getMessage().contains("gzip"), e.getMessage());
            assertTrue(e.line() > 1, "the line the stream broke at: " + e.getMessage());
        }
    }

    @Test
    void corruptGzipIsAnErrorNamingTheFile() throws IOException {
        byte[] gz = gzip(GOOD + "\n", 50);
        for (int at : new int[]{gz.length / 2, gz.length - 6}) { // inside the deflate data; inside the CRC
            byte[] bad = gz.clone();
            bad[at] ^= 0x5A;
            Path p = dir.resolve("bad" + at + ".json.gz");
            Files.write(p, bad);
            InvalidInputException e = failure(p);
            assertTrue(e.reason() == InvalidReason.CORRUPT_FILE || e.reason() == InvalidReason.MALFORMED_JSON
                    || e.reason() == InvalidReason.INVALID_UTF8, e.getMessage());
            assertTrue(e.getMessage().startsWith(p.toString() + ":"), e.getMessage());
        }
    }

    private static byte[] gzip(String line, int times) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (OutputStream o = new GZIPOutputStream(b)) {
            for (int i = 0; i < times; i++) {
                o.write(line.replace("\"p\"", "\"p" + i + "\"").getBytes(StandardCharsets.UTF_8));
            }
        }
        return b.toByteArray();
    }
}
