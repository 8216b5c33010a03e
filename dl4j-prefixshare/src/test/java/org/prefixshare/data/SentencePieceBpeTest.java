package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pure-Java SentencePiece-style BPE against DJL's Rust tokenizer, token for token, on the real Llama-2 file. */
class SentencePieceBpeTest {

    static HfTokenizer djl;
    static HfTokenizer auto;
    static JsonNode json;

    @BeforeAll
    static void load() throws IOException {
        TokenizerConfig cfg = TokenizerConfig.load(TestFiles.llama2Config());
        djl = HfTokenizer.load(TestFiles.llama2Tokenizer(), cfg, HfTokenizer.Backend.DJL);
        auto = HfTokenizer.load(TestFiles.llama2Tokenizer(), cfg);
        json = new ObjectMapper().readTree(TestFiles.llama2Tokenizer().toFile());
    }

    @AfterAll
    static void close() {
        djl.close();
        auto.close();
    }

    @Test
    void llama2IsEncodedInJavaPerWord() {
        assertEquals(HfTokenizer.Backend.JAVA, auto.backend());
        assertEquals(HfTokenizer.Backend.DJL, djl.backend());
        assertNull(SentencePieceBpe.unsupportedReason(json));
        assertTrue(SentencePieceBpe.of(json).splitsWords());
    }

    @Test
    void realDataIdenticalToDjl() {
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.ALPACA))
                .readAll(TestFiles.preferenceData());
        assertEquals(1100, es.size());
        List<String> texts = new ArrayList<>();
        List<Integer> cuts = new ArrayList<>();
        for (PreferenceExample e : es) {
            String p = e.prompt().text();
            texts.add(p);
            cuts.add(p.length());
            for (Content r : e.responses()) {
                texts.add(r.flatText());
                cuts.add(0);
                texts.add(p + r.flatText());
                cuts.add(p.length());
            }
        }
        assertSameSplits(texts, cuts.stream().mapToInt(Integer::intValue).toArray());
        assertEquals(new ExampleTokenizer(djl).tokenizeAll(es), new ExampleTokenizer(auto).tokenizeAll(es));
    }

    @Test
    void randomStringsIdenticalToDjl() {
        Random rnd = new Random(42);
        List<String> texts = new ArrayList<>();
        List<Integer> cuts = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            String s = randomText(rnd, i % 10 == 0 ? 200 : 1 + rnd.nextInt(25));
            texts.add(s);
            cuts.add(randomCut(rnd, s));
        }
        texts.add("");
        cuts.add(0);
        assertSameSplits(texts, cuts.stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void textsSharingPrefixesIdenticalToDjl() {
        // consecutive texts that begin alike reuse each other's words: prompts with several responses, one template
        Random rnd = new Random(11);
        List<String> texts = new ArrayList<>();
        List<Integer> cuts = new ArrayList<>();
        String template = "Below is an instruction.\n\n### Instruction:\n";
        for (int i = 0; i < 1000; i++) {
            String prompt = (i % 3 == 0 ? "" : template) + randomText(rnd, rnd.nextInt(8))
                    + (rnd.nextBoolean() ? "\n\n### Response:\n" : " ");
            int responses = 1 + rnd.nextInt(4);
            for (int r = 0; r < responses; r++) {
                String resp = rnd.nextInt(5) == 0 ? "" : randomText(rnd, 1 + rnd.nextInt(6));
                texts.add(prompt + resp);
                cuts.add(rnd.nextInt(4) == 0 ? randomCut(rnd, prompt + resp) : prompt.length());
            }
        }
        assertSameSplits(texts, cuts.stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void wholeTextModeIdenticalToDjl() {
        // a vocabulary token with an inner '▁' (no merge makes it) turns word splitting off; results must not change
        ObjectNode copy = json.deepCopy();
        ((ObjectNode) copy.path("model").path("vocab")).put("x" + SentencePieceBpe.SPACE + "y", 32000);
        SentencePieceBpe whole = SentencePieceBpe.of(copy);
        assertFalse(whole.splitsWords());
        Random rnd = new Random(7);
        for (int i = 0; i < 500; i++) {
            String s = randomText(rnd, 1 + rnd.nextInt(40));
            if (whole.handles(s)) {
                int cut = randomCut(rnd, s);
                TextTokenizer.Split want = djl.encodeSplit(List.of(s), new int[]{cut}).get(0);
                TextTokenizer.Split got = whole.encodeSplit(s, cut);
                assertArrayEquals(want.ids(), got.ids(), escape(s));
                assertEquals(want.boundary(), got.boundary(), escape(s));
            }
        }
    }

    @Test
    void scanMergeEqualsHeapMerge() {
        BpeModel model = BpeModel.of(json.path("model"));
        Random rnd = new Random(5);
        for (int i = 0; i < 20000; i++) {
            String w = SentencePieceBpe.SPACE + randomText(rnd, 1 + rnd.nextInt(i % 100 == 0 ? 30 : 6))
                    .replace(' ', SentencePieceBpe.SPACE);
            char[] c = w.toCharArray();
            BpeModel.Pieces scan = model.encodeWord(c, 0, c.length);
            BpeModel.Pieces heap = model.encodeWordWithHeap(c, 0, c.length);
            assertArrayEquals(heap.ids(), scan.ids(), escape(w));
            assertArrayEquals(heap.starts(), scan.starts(), escape(w));
            assertArrayEquals(heap.ends(), scan.ends(), escape(w));
        }
    }

    @Test
    void specialTokenTextsGoThroughDjl() {
        for (String s : List.of("<s>", "a</s>b", "x <unk> y", "<s>Hello")) {
            assertArrayEquals(djl.encode(s), auto.encode(s), s);
        }
        SentencePieceBpe bpe = SentencePieceBpe.of(json);
        assertFalse(bpe.handles("hi <s>"));
        assertTrue(bpe.handles("hi <s >"));
    }

    @Test
    void unsupportedFilesAreRecognised() {
        ObjectNode pre = json.deepCopy();
        pre.putObject("pre_tokenizer").put("type", "ByteLevel");
        assertNotNull(SentencePieceBpe.unsupportedReason(pre));
        ObjectNode norm = json.deepCopy();
        norm.putNull("normalizer");
        assertNotNull(SentencePieceBpe.unsupportedReason(norm));
        ObjectNode wp = json.deepCopy();
        ((ObjectNode) wp.path("model")).put("type", "WordPiece");
        assertNotNull(SentencePieceBpe.unsupportedReason(wp));
        ObjectNode drop = json.deepCopy();
        ((ObjectNode) drop.path("model")).put("dropout", 0.1);
        assertNotNull(SentencePieceBpe.unsupportedReason(drop));
        assertThrows(IllegalArgumentException.class, () -> SentencePieceBpe.of(drop));
    }

    private static void assertSameSplits(List<String> texts, int[] cuts) {
        List<TextTokenizer.Split> want = djl.encodeSplit(texts, cuts);
        List<TextTokenizer.Split> got = auto.encodeSplit(texts, cuts);
        for (int i = 0; i < texts.size(); i++) {
            String why = "text " + i + " cut " + cuts[i] + ": " + escape(texts.get(i));
            assertArrayEquals(want.get(i).ids(), got.get(i).ids(), why);
            assertEquals(want.get(i).boundary(), got.get(i).boundary(), why);
            assertArrayEquals(want.get(i).ids(), auto.encode(texts.get(i)), why);
        }
    }

    private static final String[] PIECES = {"the", "The", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", "###",
            " Response:", "Instruction", "ing", "'s", "\"", "...", "123", "4.5", "e.g.", "hello", "world", "▁", "▁▁",
            "é", "ü", "ß", "İ", "中文", "日本語", "한국어", "😀", "🙂👍", "€", "Ω", "e\u0301", "\u200d", "<", "s>",
            "</", "unk>", "http://x.y/z?q=1", "ﬁ", "\u00a0", "ÅÅÅ", "aaaaaaaa", "\u2028"};

    private static String randomText(Random rnd, int parts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts; i++) {
            switch (rnd.nextInt(6)) {
                case 0 -> sb.append((char) (32 + rnd.nextInt(95)));
                case 1 -> sb.appendCodePoint(0xA0 + rnd.nextInt(0x2000));
                case 2 -> {
                    int cp = rnd.nextInt(0xFFFF);
                    sb.appendCodePoint(Character.isSurrogate((char) cp) ? 'x' : cp);
                }
                case 3 -> sb.appendCodePoint(0x1F300 + rnd.nextInt(0x700));
                default -> sb.append(PIECES[rnd.nextInt(PIECES.length)]);
            }
        }
        return sb.toString();
    }

    private static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        s.chars().forEach(c -> sb.append(c >= 32 && c < 127 ? String.valueOf((char) c)
                : String.format("\\u%04x", c)));
        return sb.toString();
    }

    /** A cut at a char index not inside a surrogate pair. */
    private static int randomCut(Random rnd, String s) {
        int c = rnd.nextInt(s.length() + 1);
        return c > 0 && c < s.length() && Character.isLowSurrogate(s.charAt(c)) ? c - 1 : c;
    }

    @Test
    void encodeMatchesOnEdgeCases() {
        for (String s : Arrays.asList("", " ", "  ", "a", " a", "a ", "\n", "▁", "▁▁x", "x▁", "😀", " 😀 ",
                "\u0000", "a\u0000b")) {
            assertArrayEquals(djl.encode(s), auto.encode(s), "[" + s + "]");
        }
    }
}
