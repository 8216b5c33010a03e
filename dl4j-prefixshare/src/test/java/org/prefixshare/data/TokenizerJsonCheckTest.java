package org.prefixshare.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tokenizer.json that the Rust library would accept and then panic on (aborting the JVM) is refused with a
 * message naming the file and the field. The case was found by fuzzing: before the check, this test's file killed
 * the test JVM (exit 134, "no entry found for key" in template.rs).
 */
class TokenizerJsonCheckTest {

    @Test
    void aTemplateNamingAnUndefinedSpecialTokenIsRefused(@TempDir Path dir) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(TestFiles.llama2Tokenizer().toFile());
        ((ObjectNode) t.get("post_processor")).putObject("special_tokens");
        Path f = dir.resolve("tokenizer.json");
        om.writeValue(f.toFile(), t);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("post_processor.single")
                && e.getMessage().contains("'<s>'"), e.getMessage());
    }

    @Test
    void aSingleTemplateUsingSequenceBIsRefused(@TempDir Path dir) throws IOException {
        // found by fuzzing: "index out of bounds: the len is 1 but the index is 1" in template.rs, JVM aborted
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(TestFiles.llama2Tokenizer().toFile());
        ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("post_processor").get("single"))
                .add(om.readTree("{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}"));
        Path f = dir.resolve("tokenizer.json");
        om.writeValue(f.toFile(), t);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(f));
        assertTrue(e.getMessage().contains("post_processor.single") && e.getMessage().contains("sequence 'B'"),
                e.getMessage());
    }

    @Test
    void nestingPastTheRustLibrarysRecursionLimitIsRefused(@TempDir Path dir) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(TestFiles.llama2Tokenizer().toFile());
        // found by fuzzing: serde's recursion limit (128) inside the decoder made the library panic while loading
        ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("decoder").get("decoders"))
                .add(om.readTree("[".repeat(300) + "]".repeat(300)));
        Path f = dir.resolve("tokenizer.json");
        om.writeValue(f.toFile(), t);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("levels deep"), e.getMessage());
    }

    @Test
    void whatSerdeRefusesInsideADecoderIsRefused(@TempDir Path dir) throws IOException {
        // found by fuzzing: each of these made the library panic while loading ("Helper: Error(...)")
        for (String value : new String[]{"\"\\ud800\"", "1e999"}) {
            Path f = dir.resolve("tokenizer.json");
            String text = java.nio.file.Files.readString(TestFiles.llama2Tokenizer());
            text = text.replaceFirst("\"Fuse\"", "\"Fuse\", \"odd\": " + java.util.regex.Matcher.quoteReplacement(
                    value));
            java.nio.file.Files.writeString(f, text);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(f));
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("decoder.decoders[2].odd"),
                    e.getMessage());
        }
    }

    @Test
    void aPatternThousandsOfBracketsDeepIsRefused(@TempDir Path dir) throws IOException {
        // found by fuzzing: compiling it in Oniguruma crashed the JVM with a segmentation fault
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(TestFiles.llama2Tokenizer().toFile());
        t.set("pre_tokenizer", om.readTree("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a" + "[".repeat(4000)
                + "b" + "]".repeat(4000) + "\"}, \"behavior\": \"Isolated\", \"invert\": false}"));
        Path f = dir.resolve("tokenizer.json");
        om.writeValue(f.toFile(), t);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(f));
        assertTrue(e.getMessage().contains("pre_tokenizer.pattern.Regex") && e.getMessage().contains("brackets deep"),
                e.getMessage());
    }

    @Test
    void tokensWithoutOffsetsLeaveTheSplitUnknownInsteadOfFailing(@TempDir Path dir) throws IOException {
        // found by fuzzing: a single template repeating sequence A gives tokens without character spans, and the
        // prompt/response split read spans[b].getStart() of a null span (NullPointerException)
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(TestFiles.llama2Tokenizer().toFile());
        ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("normalizer").get("normalizers"))
                .insert(0, om.readTree("{\"type\": \"Prepend\", \"prepend\": \"\u2581\"}")); // not the Java encoder
        ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("post_processor").get("single"))
                .add(om.readTree("{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}"));
        Path f = dir.resolve("tokenizer.json");
        om.writeValue(f.toFile(), t);
        try (HfTokenizer tok = HfTokenizer.load(f)) {
            assertTrue(tok.backend() == HfTokenizer.Backend.DJL);
            java.util.List<TextTokenizer.Split> s = tok.encodeSplit(java.util.List.of("ab cd", "ef"), new int[]{2, 1});
            assertTrue(s.size() == 2);
        }
    }

    @Test
    void realTokenizersPass() {
        HfTokenizer.load(TestFiles.llama2Tokenizer()).close();
        HfTokenizer.load(TestFiles.llama3Tokenizer()).close();
    }
}
