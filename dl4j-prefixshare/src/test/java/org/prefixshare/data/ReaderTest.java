package org.prefixshare.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReaderTest {

    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static List<PreferenceExample> read(PreferenceFormat f, Path p) {
        return new PreferenceReader(ReaderOptions.of(f)).readAll(p);
    }

    @Test
    void promptFormatJsonl() throws IOException {
        Path p = write("a.jsonl", "{\"prompt\":\"Q1\",\"chosen\":\"good\",\"rejected\":\"bad\"}\n\n"
                + "{\"prompt\":\"\",\"chosen\":\"x\",\"rejected\":\"y\"}\n");
        List<PreferenceExample> es = read(PreferenceFormat.PROMPT, p);
        assertEquals(2, es.size());
        assertEquals("Q1", es.get(0).prompt().text());
        assertEquals("good", es.get(0).responses().get(0).text());
        assertEquals("bad", es.get(0).responses().get(1).text());
        assertEquals(0, es.get(0).id());
        assertEquals(1, es.get(1).id());
        assertEquals(3, es.get(1).line());
        assertEquals("", es.get(1).prompt().text());
    }

    @Test
    void jsonArrayAndGzipAreTransparent() throws IOException {
        String arr = "[\n {\"q\":\"Q1\",\"good\":\"a\",\"bad\":\"b\"},\n {\"q\":\"Q2\",\"good\":\"c\",\"bad\":\"d\"}\n]";
        Path plain = write("a.json", arr);
        Path gz = dir.resolve("a.json.gz");
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(gz))) {
            o.write(arr.getBytes(StandardCharsets.UTF_8));
        }
        Path gzNoExt = dir.resolve("noext");
        Files.copy(gz, gzNoExt);
        ReaderOptions o = ReaderOptions.of(PreferenceFormat.PROMPT)
                .withFields(FieldNames.defaults().withPrompt("q").withChosen("good").withRejected("bad"));
        for (Path p : List.of(plain, gz, gzNoExt)) {
            List<PreferenceExample> es = new PreferenceReader(o).readAll(p);
            assertEquals(2, es.size(), p.toString());
            assertEquals("Q2", es.get(1).prompt().text());
            assertEquals("d", es.get(1).responses().get(1).text());
            assertEquals(3, es.get(1).line());
        }
    }

    @Test
    void conversational() throws IOException {
        Path p = write("c.jsonl", "{\"prompt\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":"
                + "\"Hi\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Hello!\"}],"
                + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"Go away.\"}]}\n");
        PreferenceExample e = read(PreferenceFormat.CONVERSATIONAL, p).get(0);
        assertTrue(e.prompt().isConversational());
        assertEquals(List.of(new Message("system", "S"), new Message("user", "Hi")), e.prompt().messages());
        assertEquals("Go away.", e.responses().get(1).messages().get(0).content());
    }

    @Test
    void implicitPromptCutAtLastAssistantTurn() throws IOException {
        String common = "\\n\\nHuman: Hi\\n\\nAssistant: Hello.\\n\\nHuman: How are you?\\n\\nAssistant:";
        Path p = write("h.jsonl", "{\"chosen\":\"" + common + " Fine, thanks.\",\"rejected\":\"" + common
                + " Fine, go away.\"}\n");
        PreferenceExample e = read(PreferenceFormat.IMPLICIT, p).get(0);
        assertEquals("\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: How are you?\n\nAssistant:", e.prompt().text());
        assertEquals(" Fine, thanks.", e.responses().get(0).text());
        assertEquals(" Fine, go away.", e.responses().get(1).text());
    }

    @Test
    void implicitWithoutTurnBoundaryIsAnError() throws IOException {
        Path p = write("h.jsonl", "{\"chosen\":\"abc\",\"rejected\":\"abd\"}\n");
        InvalidInputException ex = assertThrows(InvalidInputException.class, () -> read(PreferenceFormat.IMPLICIT, p));
        assertEquals(InvalidReason.NO_COMMON_PROMPT, ex.reason());
    }

    @Test
    void alpacaWithTemplate() throws IOException {
        Path p = write("al.json", "[{\"instruction\":\"Do X.\",\"input\":\"\",\"chosen\":\"ok\",\"rejected\":\"no\"},"
                + "{\"instruction\":\"Do Y.\",\"input\":\"data\",\"chosen\":\"ok\",\"rejected\":\"no\"},"
                + "{\"instruction\":\"Do Z.\",\"chosen\":\"ok\",\"rejected\":\"no\"}]");
        List<PreferenceExample> es = read(PreferenceFormat.ALPACA, p);
        assertTrue(es.get(0).prompt().text().endsWith("### Instruction:\nDo X.\n\n### Response:\n"));
        assertTrue(es.get(1).prompt().text().contains("### Input:\ndata\n\n### Response:\n"));
        assertFalse(es.get(2).prompt().text().contains("### Input"));
        ReaderOptions custom = ReaderOptions.of(PreferenceFormat.ALPACA)
                .withAlpacaTemplate(new AlpacaTemplate("I: {instruction} | {input} -> ", "I: {instruction} -> "));
        List<PreferenceExample> es2 = new PreferenceReader(custom).readAll(p);
        assertEquals("I: Do Y. | data -> ", es2.get(1).prompt().text());
    }

    @Test
    void rankedWithFourResponses() throws IOException {
        Path p = write("r.jsonl", "{\"prompt\":\"P\",\"responses\":[\"best\",\"good\",\"meh\",\"worst\"]}\n"
                + "{\"prompt\":[{\"role\":\"user\",\"content\":\"P\"}],\"responses\":[[{\"role\":\"assistant\","
                + "\"content\":\"a\"}],[{\"role\":\"assistant\",\"content\":\"b\"}]]}\n");
        List<PreferenceExample> es = read(PreferenceFormat.RANKED, p);
        assertEquals(4, es.get(0).responses().size());
        assertEquals("worst", es.get(0).responses().get(3).text());
        assertTrue(es.get(1).prompt().isConversational());
        Path bad = write("r2.jsonl", "{\"prompt\":\"P\",\"responses\":[\"only\"]}\n");
        assertEquals(InvalidReason.TOO_FEW_RESPONSES, assertThrows(InvalidInputException.class,
                () -> read(PreferenceFormat.RANKED, bad)).reason());
    }

    @Test
    void badInputNamesFileLineAndField() throws IOException {
        String good = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n";
        Object[][] cases = {
                {"{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"\n", InvalidReason.MALFORMED_JSON, null},
                {"{\"prompt\":\"p\",\"chosen\":\"a\"}\n", InvalidReason.MISSING_FIELD, "rejected"},
                {"{\"prompt\":\"p\",\"chosen\":\"  \",\"rejected\":\"b\"}\n", InvalidReason.EMPTY_RESPONSE, "chosen"},
                {"{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":7}\n", InvalidReason.NOT_A_STRING, "rejected"},
                {"{\"prompt\":[1],\"chosen\":\"a\",\"rejected\":\"b\"}\n", InvalidReason.NOT_A_STRING, "prompt"},
        };
        for (Object[] c : cases) {
            Path p = write("bad.jsonl", good + good + c[0] + good);
            InvalidInputException ex = assertThrows(InvalidInputException.class,
                    () -> read(PreferenceFormat.PROMPT, p));
            assertEquals(c[1], ex.reason(), ex.getMessage());
            assertEquals(3, ex.line(), ex.getMessage());
            assertEquals(c[2], ex.field(), ex.getMessage());
            assertTrue(ex.getMessage().contains(p.toString() + ":3"), ex.getMessage());
            if (c[2] != null) {
                assertTrue(ex.getMessage().contains("'" + c[2] + "'"), ex.getMessage());
            }
        }
    }

    @Test
    void invalidUtf8() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"a".getBytes(StandardCharsets.UTF_8));
        b.write(0xC3);
        b.write(0x28);
        b.writeBytes("\",\"rejected\":\"b\"}\n".getBytes(StandardCharsets.UTF_8));
        Path p = dir.resolve("u.jsonl");
        Files.write(p, b.toByteArray());
        InvalidInputException ex = assertThrows(InvalidInputException.class, () -> read(PreferenceFormat.PROMPT, p));
        assertEquals(InvalidReason.INVALID_UTF8, ex.reason());
        assertEquals(2, ex.line());
        // the same inside a JSON array
        Path q = dir.resolve("u.json");
        byte[] arr = ("[{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"},\n{\"prompt\":\"p\",\"chosen\":\"a")
                .getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        c.writeBytes(arr);
        c.write(0xC3);
        c.write(0x28);
        c.writeBytes("\",\"rejected\":\"b\"}]".getBytes(StandardCharsets.UTF_8));
        Files.write(q, c.toByteArray());
        InvalidInputException ex2 = assertThrows(InvalidInputException.class, () -> read(PreferenceFormat.PROMPT, q));
        assertEquals(InvalidReason.INVALID_UTF8, ex2.reason(), ex2.getMessage());
        assertEquals(2, ex2.line());
    }

    @Test
    void skipInvalidCountsByReasonAndKeepsIds() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        String good = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n";
        b.writeBytes(good.getBytes(StandardCharsets.UTF_8));
        b.writeBytes("not json\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"a\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"\",\"rejected\":\"b\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"x".getBytes(StandardCharsets.UTF_8));
        b.write(0xFF);
        b.writeBytes("\",\"rejected\":\"b\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"prompt\":\"p\",\"chosen\":\"same\",\"rejected\":\"same\"}\n".getBytes(StandardCharsets.UTF_8));
        Path p = dir.resolve("s.jsonl");
        Files.write(p, b.toByteArray());
        ReadCounts counts = new ReadCounts();
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.PROMPT)
                .withSkipInvalid(true)).readAll(p, counts);
        assertEquals(2, es.size());
        assertEquals(0, es.get(0).id());
        assertEquals(5, es.get(1).id());
        assertEquals(6, counts.records());
        assertEquals(1L, counts.skipped().get("malformed_json"));
        assertEquals(1L, counts.skipped().get("missing_field"));
        assertEquals(1L, counts.skipped().get("empty_response"));
        assertEquals(1L, counts.skipped().get("invalid_utf8"));
        assertEquals(4, counts.skippedTotal());
        assertEquals(1, counts.identicalResponses());
        assertTrue(es.get(1).hasIdenticalResponses());
    }

    @Test
    void realAlpacaData() {
        ReadCounts counts = new ReadCounts();
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.ALPACA))
                .readAll(TestFiles.preferenceData(), counts);
        assertEquals(1100, es.size());
        assertEquals(1100, counts.records());
        assertEquals(0, counts.skippedTotal());
        assertTrue(es.get(0).prompt().text().contains("Evaluate the following phrase"));
        assertTrue(es.get(0).prompt().text().contains("### Input:\nfreind --> friend"));
        assertTrue(counts.identicalResponses() >= 0);
    }
}
