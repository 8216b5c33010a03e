package org.prefixshare.data;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatTemplateTest {

    @Test
    void llama3TemplateMatchesHandWrittenString() {
        TokenizerConfig cfg = TokenizerConfig.load(TestFiles.llama3Config());
        assertEquals("<|begin_of_text|>", cfg.bosToken());
        assertEquals("<|end_of_text|>", cfg.eosToken());
        ChatTemplate t = new ChatTemplate(cfg.chatTemplate(), cfg.bosToken(), cfg.eosToken());
        String got = t.render(List.of(new Message("system", "You are helpful."),
                new Message("user", "  Hi there \n")), true);
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertEquals(expected, got);
    }

    @Test
    void llama3PromptAndResponseSplit() {
        TokenizerConfig cfg = TokenizerConfig.load(TestFiles.llama3Config());
        HfTokenizer tok = HfTokenizer.load(TestFiles.llama3Tokenizer(), cfg);
        try {
            ExampleTokenizer et = new ExampleTokenizer(tok, ChatTemplate.of(cfg, tok), true);
            PreferenceExample e = new PreferenceExample(0, "f", 1,
                    Content.messages(List.of(new Message("user", "Hi"))),
                    List.of(Content.messages(List.of(new Message("assistant", "Hello!"))),
                            Content.messages(List.of(new Message("assistant", "Bye.")))));
            TokenizedExample t = et.tokenize(e);
            int bos = tok.encode("<|begin_of_text|>")[0];
            assertEquals(bos, t.prompt()[0], "the template writes BOS");
            assertTrue(t.prompt()[1] != bos, "no second BOS");
            String c0 = tok.decode(t.responses().get(0));
            assertTrue(c0.startsWith("Hello!<|eot_id|>"), c0);
            assertTrue(c0.endsWith("<|end_of_text|>"), c0);
        } finally {
            tok.close();
        }
    }

    @Test
    void defaultTemplate() {
        ChatTemplate t = new ChatTemplate(ChatTemplate.DEFAULT_TEMPLATE, "<s>", "</s>");
        assertEquals("<s><|system|>\nS\n<|user|>\nU\n<|assistant|>\n",
                t.render(List.of(new Message("system", "S"), new Message("user", "U")), true));
        assertEquals("<s><|user|>\nU\n", t.render(List.of(new Message("user", "U")), false));
    }

    @Test
    void raiseExceptionFails() {
        ChatTemplate t = new ChatTemplate("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be "
                + "user') }}{% endif %}ok", "", "");
        assertEquals("ok", t.render(List.of(new Message("user", "x")), false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> t.render(List.of(new Message("system", "x")), false));
        assertTrue(e.getMessage().contains("first must be user"), e.getMessage());
    }
}
