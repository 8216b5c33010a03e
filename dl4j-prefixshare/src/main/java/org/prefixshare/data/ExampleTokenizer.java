package org.prefixshare.data;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns read examples into token ids so that the prefix-shared and the paired formats see exactly the same ids.
 *
 * <p><b>Texts.</b> A plain-text prompt is used as is. A conversational prompt is rendered with the chat template and
 * {@code add_generation_prompt=true}; a conversational response is the rendering of prompt + response messages
 * (without generation prompt) minus the rendered prompt (TRL's rule). BOS: a plain-text prompt gets the tokenizer's
 * BOS in front when the tokenizer adds one (Hugging Face's {@code add_special_tokens=True}), unless it already starts
 * with it; a chat-templated prompt gets none (the template writes it, as in Hugging Face). EOS: appended to every
 * response when {@code addEos} and the tokenizer has one, unless the response already ends with it.
 *
 * <p><b>The tokenisation rule.</b> Each response r is tokenised together with the prompt,
 * {@code j_r = enc(prompt + response_r)}, so the paired format is what the model sees at generation time. The prompt
 * ids {@code p} are fixed once per example: when every {@code j_r} has a token boundary exactly at the prompt's last
 * character (known from the tokenizer's offsets) and all agree on the tokens before it, {@code p} is those tokens and
 * {@code c_r} the rest of {@code j_r}. Otherwise the prompt is tokenised alone, {@code p = enc(prompt)}; each
 * {@code j_r} that starts with {@code p} still gives {@code c_r} as its rest, and each that does not is a
 * <em>boundary merge</em> (the tokenizer merged characters across the boundary): that response is tokenised on its
 * own, {@code c_r = enc(response_r)}, and the case is counted ({@link TokenizedExample#boundaryMerges()},
 * {@code boundary_merges} in {@code data stats}). Either way the paired form of response r is defined as
 * {@code p ++ c_r}, so both formats hold identical ids by construction; without merges it is exactly the joint
 * tokenisation {@code j_r}. Tokenizers without offsets (the byte tokenizer) always take the second path.
 */
public final class ExampleTokenizer {

    private static final int CHUNK = 256;

    private final TextTokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final boolean addBos;
    private final boolean addEos;

    /**
     * @param tokenizer    the tokenizer
     * @param chatTemplate template for conversational data (null: {@link ChatTemplate#DEFAULT_TEMPLATE})
     * @param addEos       append EOS to every response
     */
    public ExampleTokenizer(TextTokenizer tokenizer, ChatTemplate chatTemplate, boolean addEos) {
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate != null ? chatTemplate
                : new ChatTemplate(ChatTemplate.DEFAULT_TEMPLATE, tokenizer.bosToken(), tokenizer.eosToken());
        this.addBos = tokenizer.addsBos() && tokenizer.bosId() >= 0;
        this.addEos = addEos && tokenizer.eosId() >= 0;
    }

    /** Default: no explicit template, EOS appended. */
    public ExampleTokenizer(TextTokenizer tokenizer) {
        this(tokenizer, null, true);
    }

    /** The tokenizer. */
    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    /** Tokenises one example. */
    public TokenizedExample tokenize(PreferenceExample e) {
        return tokenizeAll(List.of(e)).get(0);
    }

    /** Tokenises many examples (in batches through {@link TextTokenizer#encodeSplit}), keeping their order. */
    public List<TokenizedExample> tokenizeAll(List<PreferenceExample> examples) {
        List<TokenizedExample> out = new ArrayList<>(examples.size());
        for (int from = 0; from < examples.size(); from += CHUNK) {
            List<PreferenceExample> chunk = examples.subList(from, Math.min(examples.size(), from + CHUNK));
            List<Texts> texts = new ArrayList<>(chunk.size());
            List<String> joints = new ArrayList<>();
            int[] cuts = new int[chunk.size() * 2];
            for (PreferenceExample e : chunk) {
                Texts t = texts(e);
                texts.add(t);
                for (String r : t.responses) {
                    if (joints.size() == cuts.length) {
                        cuts = java.util.Arrays.copyOf(cuts, cuts.length * 2);
                    }
                    cuts[joints.size()] = t.prompt.length();
                    joints.add(t.prompt.concat(r));
                }
            }
            List<TextTokenizer.Split> split = tokenizer.encodeSplit(joints,
                    java.util.Arrays.copyOf(cuts, joints.size()));
            int k = 0;
            for (int i = 0; i < chunk.size(); i++) {
                Texts t = texts.get(i);
                int n = t.responses.size();
                List<TextTokenizer.Split> mine = split.subList(k, k + n);
                k += n;
                boolean bos = t.plainText && addBos;
                int[] p = sharedPrompt(mine, bos);
                List<int[]> rs = new ArrayList<>(n);
                int merges = 0;
                if (p != null) {
                    for (TextTokenizer.Split sp : mine) {
                        rs.add(response(sp.ids(), sp.boundary()));
                    }
                } else {
                    p = tokenizer.encode(t.prompt);
                    for (int r = 0; r < n; r++) {
                        int[] joint = mine.get(r).ids();
                        if (startsWith(joint, p)) {
                            rs.add(response(joint, p.length));
                        } else {
                            merges++;
                            rs.add(response(tokenizer.encode(t.responses.get(r)), 0));
                        }
                    }
                    p = withBos(p, 0, p.length, bos);
                }
                PreferenceExample e = chunk.get(i);
                out.add(new TokenizedExample(e.id(), e.source() + ":" + e.line(), p, rs, merges));
            }
        }
        return out;
    }

    /**
     * The prompt ids (BOS in front when {@code bos}) when every joint tokenisation splits cleanly at the prompt's end
     * and they agree; else null.
     */
    private int[] sharedPrompt(List<TextTokenizer.Split> splits, boolean bos) {
        TextTokenizer.Split first = splits.get(0);
        if (first.boundary() < 0) {
            return null;
        }
        for (TextTokenizer.Split s : splits) {
            if (s.boundary() != first.boundary() || !java.util.Arrays.equals(s.ids(), 0, s.boundary(), first.ids(), 0,
                    first.boundary())) {
                return null;
            }
        }
        return withBos(first.ids(), 0, first.boundary(), bos);
    }

    /** {@code ids[from, to)}, with BOS in front when {@code bos} and it does not already start with it. */
    private int[] withBos(int[] ids, int from, int to, boolean bos) {
        int b = bos && (to == from || ids[from] != tokenizer.bosId()) ? 1 : 0;
        int[] out = new int[to - from + b];
        if (b == 1) {
            out[0] = tokenizer.bosId();
        }
        System.arraycopy(ids, from, out, b, to - from);
        return out;
    }

    /** {@code ids[from..]}, with EOS appended when the rule asks for it and it does not already end with it. */
    private int[] response(int[] ids, int from) {
        int len = ids.length - from;
        int e = addEos && (len == 0 || ids[ids.length - 1] != tokenizer.eosId()) ? 1 : 0;
        int[] out = new int[len + e];
        System.arraycopy(ids, from, out, 0, len);
        if (e == 1) {
            out[len] = tokenizer.eosId();
        }
        return out;
    }

    private static boolean startsWith(int[] a, int[] prefix) {
        if (a.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (a[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private record Texts(String prompt, List<String> responses, boolean plainText) {
    }

    /** The chat template's rendering; its failure names the example's file and line. */
    private String render(PreferenceExample e, List<Message> messages, boolean generationPrompt) {
        try {
            return chatTemplate.render(messages, generationPrompt);
        } catch (IllegalArgumentException x) {
            throw new IllegalArgumentException(e.source() + ":" + e.line() + ": " + x.getMessage(), x);
        }
    }

    private Texts texts(PreferenceExample e) {
        Content p = e.prompt();
        List<String> rs = new ArrayList<>(e.responses().size());
        if (!p.isConversational()) {
            for (Content c : e.responses()) {
                rs.add(c.flatText());
            }
            return new Texts(p.text(), rs, true);
        }
        String prompt = render(e, p.messages(), true);
        for (Content c : e.responses()) {
            List<Message> all = new ArrayList<>(p.messages());
            if (c.isConversational()) {
                all.addAll(c.messages());
            } else {
                all.add(new Message("assistant", c.text()));
            }
            String full = render(e, all, false);
            if (!full.startsWith(prompt)) {
                throw new IllegalArgumentException(e.source() + ":" + e.line() + ": the rendering of prompt + "
                        + "response by " + chatTemplate.origin() + " does not start with its rendering of the prompt; "
                        + "cannot split them");
            }
            rs.add(full.substring(prompt.length()));
        }
        return new Texts(prompt, rs, false);
    }
}
