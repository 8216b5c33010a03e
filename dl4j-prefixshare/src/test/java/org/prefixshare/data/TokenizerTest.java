package org.prefixshare.data;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {

    static HfTokenizer llama2;

    @BeforeAll
    static void load() {
        llama2 = HfTokenizer.load(TestFiles.llama2Tokenizer(), TokenizerConfig.load(TestFiles.llama2Config()));
    }

    @AfterAll
    static void close() {
        llama2.close();
    }

    @Test
    void byteTokenizerRoundTrip() {
        ByteTokenizer t = new ByteTokenizer();
        String s = "héllo <s>wörld</s> ✓";
        int[] ids = t.encode(s);
        assertEquals(1, Arrays.stream(ids).filter(i -> i == ByteTokenizer.BOS).count());
        assertEquals(1, Arrays.stream(ids).filter(i -> i == ByteTokenizer.EOS).count());
        assertEquals(s, t.decode(ids));
        assertEquals(259, t.vocabSize());
        assertTrue(Arrays.stream(ids).allMatch(i -> i > 0 && i < 259));
    }

    @Test
    void llama2LoadsOfflineAndEncodes() {
        assertEquals(1, llama2.bosId());
        assertEquals(2, llama2.eosId());
        assertTrue(llama2.addsBos());
        assertEquals(32000, llama2.vocabSize());
        int[] ids = llama2.encode("Hello world");
        assertEquals(2, ids.length, Arrays.toString(ids));
        assertEquals("Hello world", llama2.decode(ids).strip());
        assertArrayEquals(new int[]{1}, llama2.encode("<s>"));
        List<int[]> batch = llama2.encodeBatch(List.of("a", "b", "c", "d", "e", "f", "g", "h", "Hello world"));
        assertArrayEquals(ids, batch.get(8));
    }

    @Test
    void tokenisationRuleOnByteTokenizer() {
        ExampleTokenizer et = new ExampleTokenizer(new ByteTokenizer());
        PreferenceExample e = new PreferenceExample(7, "f", 1, Content.text("ab"),
                List.of(Content.text("c"), Content.text("de")));
        TokenizedExample t = et.tokenize(e);
        assertArrayEquals(new int[]{ByteTokenizer.BOS, 3 + 'a', 3 + 'b'}, t.prompt());
        assertArrayEquals(new int[]{3 + 'c', ByteTokenizer.EOS}, t.responses().get(0));
        assertArrayEquals(new int[]{3 + 'd', 3 + 'e', ByteTokenizer.EOS}, t.responses().get(1));
        assertEquals(0, t.boundaryMerges());
        assertEquals(7, t.id());
    }

    @Test
    void tokenisationRuleOnLlama2MatchesJointTokenisation() {
        ExampleTokenizer et = new ExampleTokenizer(llama2);
        List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(PreferenceFormat.ALPACA))
                .readAll(TestFiles.preferenceData()).subList(0, 200);
        List<TokenizedExample> ts = et.tokenizeAll(es);
        int merges = 0;
        for (int i = 0; i < es.size(); i++) {
            TokenizedExample t = ts.get(i);
            assertEquals(1, t.prompt()[0], "BOS first");
            merges += t.boundaryMerges();
            for (int r = 0; r < 2; r++) {
                int[] c = t.responses().get(r);
                assertEquals(2, c[c.length - 1], "EOS last");
                if (t.boundaryMerges() == 0) {
                    // paired = BOS ++ enc(prompt + response) ++ EOS exactly
                    String joint = es.get(i).prompt().text() + es.get(i).responses().get(r).text();
                    int[] expect = llama2.encode(joint);
                    int[] got = t.paired(r);
                    assertArrayEquals(expect, Arrays.copyOfRange(got, 1, got.length - 1));
                }
            }
        }
        assertEquals(0, merges, "the Alpaca prompt ends with a newline: no merges expected");
    }

    @Test
    void boundaryMergeIsCountedAndHandledOneWay() {
        ExampleTokenizer et = new ExampleTokenizer(llama2);
        // "wor" + "ld" is tokenised as one word jointly: the prompt's tokens are not a prefix
        PreferenceExample e = new PreferenceExample(0, "f", 1, Content.text("Hello wor"),
                List.of(Content.text("ld"), Content.text("m")));
        TokenizedExample t = et.tokenize(e);
        assertTrue(t.boundaryMerges() >= 1, t.toString());
        int[] p = llama2.encode("Hello wor");
        assertArrayEquals(p, Arrays.copyOfRange(t.prompt(), 1, t.promptLength()), "prompt tokenised once, alone");
        int[] c0 = llama2.encode("ld");
        assertArrayEquals(c0, Arrays.copyOf(t.responses().get(0), t.responses().get(0).length - 1),
                "a merged response is tokenised on its own");
    }

    @Test
    void chatPromptGetsNoExtraBos() {
        TokenizerConfig cfg = TokenizerConfig.load(TestFiles.llama3Config());
        ByteTokenizer bt = new ByteTokenizer();
        ChatTemplate tpl = new ChatTemplate(ChatTemplate.DEFAULT_TEMPLATE, bt.bosToken(), bt.eosToken());
        ExampleTokenizer et = new ExampleTokenizer(bt, tpl, true);
        PreferenceExample e = new PreferenceExample(0, "f", 1,
                Content.messages(List.of(new Message("user", "Hi"))),
                List.of(Content.messages(List.of(new Message("assistant", "Yo"))),
                        Content.messages(List.of(new Message("assistant", "No")))));
        TokenizedExample t = et.tokenize(e);
        assertEquals("<s><|user|>\nHi\n<|assistant|>\n", bt.decode(t.prompt()));
        assertEquals("Yo\n</s>", bt.decode(t.responses().get(0)));
        assertFalse(cfg.chatTemplate().isEmpty());
    }
}
