package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * A pure-Java encoder, exact to Hugging Face {@code tokenizers}, for the SentencePiece-style BPE family of
 * {@code tokenizer.json} (Llama-2, Mistral, ...): model BPE (see {@link BpeModel}); normalizer
 * {@code Prepend("▁")} + {@code Replace(" ", "▁")} (any order); no pre-tokenizer. {@link #unsupportedReason} says
 * whether a file is of that kind.
 *
 * <p><b>Words.</b> Without a pre-tokenizer Hugging Face runs BPE over the whole normalised text. When no vocabulary
 * token holds a '▁' right after another character (true of Llama-2), no merge can cross the point before a '▁'
 * that follows a non-'▁', so the text is cut there into words ("▁the", "▁▁▁x", "▁Response:\nThe") and each word is
 * merged alone: the same result, and words repeat, so each distinct word is merged once and cached (per thread, for
 * the life of this object; capped). Otherwise the whole text is one word.
 *
 * <p><b>Added tokens.</b> Hugging Face first cuts the text at added tokens ({@code <s>}, ...) and normalises the
 * pieces separately; this class does not, and {@link #handles} is false for a text containing an added token's
 * content (the caller then uses the Rust tokenizer for that text).
 *
 * <p><b>Offsets</b> are UTF-16 char indices, as Java strings count (Rust's count code points).
 *
 * <p>Thread-safe.
 */
final class SentencePieceBpe {

    /** SentencePiece's visible space. */
    static final char SPACE = '\u2581';

    private static final int CACHE_LIMIT = 200_000;
    private static final int MAX_CACHED_WORD = 256;

    private final BpeModel model;
    private final boolean splitWords;
    private final String[] addedTokens;
    /** Whether some added token begins with the char. */
    private final boolean[] addedFirst;
    /** Merged words, one cache per thread (no locking on the hot path). */
    private final ThreadLocal<WordCache> caches = ThreadLocal.withInitial(() -> new WordCache(CACHE_LIMIT));

    private SentencePieceBpe(JsonNode json) {
        model = BpeModel.of(json.path("model"));
        boolean split = true;
        for (Iterator<String> it = json.path("model").path("vocab").fieldNames(); it.hasNext() && split; ) {
            String t = it.next();
            for (int i = 1; i < t.length() && split; i++) {
                split = !(t.charAt(i) == SPACE && t.charAt(i - 1) != SPACE);
            }
        }
        splitWords = split;
        List<String> added = new ArrayList<>();
        for (JsonNode a : json.path("added_tokens")) {
            added.add(a.path("content").asText());
        }
        addedTokens = added.toArray(new String[0]);
        addedFirst = new boolean[Character.MAX_VALUE + 1];
        for (String a : addedTokens) {
            addedFirst[a.charAt(0)] = true;
        }
    }

    /** Why {@code tokenizer.json} (parsed) is not of the supported kind, or null when it is. */
    static String unsupportedReason(JsonNode json) {
        String why = BpeModel.unsupportedReason(json.path("model"));
        if (why != null) {
            return why;
        }
        JsonNode pre = json.path("pre_tokenizer");
        if (!pre.isNull() && !pre.isMissingNode()) {
            return "it has a pre_tokenizer (" + pre.path("type").asText() + ")";
        }
        if (!isSentencePieceNormalizer(json.path("normalizer"))) {
            return "the normalizer is not Prepend(\"▁\") + Replace(\" \", \"▁\")";
        }
        for (JsonNode a : json.path("added_tokens")) {
            String c = a.path("content").asText("");
            if (c.isEmpty() || a.path("normalized").asBoolean(false) && c.indexOf(SPACE) >= 0) {
                return "added token '" + c + "' is empty or normalised with a '▁' in it";
            }
        }
        return null;
    }

    private static boolean isSentencePieceNormalizer(JsonNode n) {
        if (!"Sequence".equals(n.path("type").asText()) || n.path("normalizers").size() != 2) {
            return false;
        }
        boolean prepend = false;
        boolean replace = false;
        for (JsonNode s : n.path("normalizers")) {
            String type = s.path("type").asText();
            if ("Prepend".equals(type) && String.valueOf(SPACE).equals(s.path("prepend").asText())) {
                prepend = true;
            } else if ("Replace".equals(type) && " ".equals(s.path("pattern").path("String").asText(null))
                    && String.valueOf(SPACE).equals(s.path("content").asText())) {
                replace = true;
            }
        }
        return prepend && replace;
    }

    /** The encoder of a supported {@code tokenizer.json} (see {@link #unsupportedReason}). */
    static SentencePieceBpe of(JsonNode json) {
        String why = unsupportedReason(json);
        if (why != null) {
            throw new IllegalArgumentException("not a SentencePiece-style BPE tokenizer: " + why);
        }
        return new SentencePieceBpe(json);
    }

    /** Whether the text is cut into words (see the class comment). */
    boolean splitsWords() {
        return splitWords;
    }

    /**
     * Whether this encoder is exact for {@code text}: it holds no added token and no unpaired surrogate (which the
     * Rust side sees as U+FFFD).
     */
    boolean handles(String text) {
        return normalise(text) != null;
    }

    /** Token ids of {@code text} (no special tokens added), or null when it does not {@link #handles handle}. */
    int[] encode(String text) {
        TextTokenizer.Split s = encodeSplit(text, -1);
        return s == null ? null : s.ids();
    }
    /**
     * Token ids of {@code text} and the index of the first token at or after char {@code cut}, as
     * {@link TextTokenizer#encodeSplit} defines it from Hugging Face's offsets: the number of tokens starting before
     * the cut when the last of them ends at or before it, else -1; always 0 for cut 0; -1 for cut -1 (not asked).
     * Null when it does not {@link #handles handle} the text.
     */
    TextTokenizer.Split encodeSplit(String text, int cut) {
        return encodeAll(List.of(text), new int[]{cut})[0];
    }

    /**
     * {@link #encodeSplit} of each text at its cut. Consecutive texts often begin alike (a prompt and its responses;
     * prompts from one template): the words of a text that end before the point where it first differs from the
     * previous text (and before its cut) are the previous text's words, so their tokens are copied, not looked up.
     * A text it does not {@link #handles handle} gets null.
     */
    TextTokenizer.Split[] encodeAll(List<String> texts, int[] cuts) {
        TextTokenizer.Split[] out = new TextTokenizer.Split[texts.size()];
        WordCache cache = caches.get();
        char[] prevText = new char[0];
        Words prev = new Words(16);
        for (int t = 0; t < out.length; t++) {
            char[] n = normalise(texts.get(t));
            if (n == null) {
                continue;
            }
            int cut = cuts[t];
            // the cut in the normalised text: original char c is normalised char c + 1
            int at = cut > 0 ? cut + 1 : -1;
            Words words = new Words(Math.max(16, n.length / 3));
            int from = 0;
            if (splitWords) {
                // word starts up to the last char both texts share are word starts of both
                int same = Arrays.mismatch(n, prevText);
                int limit = (same < 0 ? n.length : same) - 1;
                from = words.copyPrefix(prev, at < 0 ? limit : Math.min(limit, at));
            }
            if (from < n.length) {
                encodeWords(n, from, n.length, words, at, cache);
            }
            int boundary = cut < 0 ? -1 : cut == 0 ? 0 : words.lastEnd <= at ? words.before : -1;
            out[t] = new TextTokenizer.Split(words.ids(), boundary);
            prev = words;
            prevText = n;
        }
        return out;
    }

    /**
     * The normalised text: '▁' in front (unless empty), spaces replaced by '▁'; null when the text holds an added
     * token or an unpaired surrogate (see {@link #handles}).
     */
    private char[] normalise(String text) {
        int len = text.length();
        if (len == 0) {
            return new char[0];
        }
        char[] n = new char[len + 1];
        n[0] = SPACE;
        text.getChars(0, len, n, 1);
        for (int i = 1; i <= len; i++) {
            char c = n[i];
            if (c == ' ') {
                n[i] = SPACE;
            } else if (addedFirst[c] && holdsAddedToken(text, i - 1)) {
                return null;
            } else if (Character.isSurrogate(c)) {
                if (!Character.isHighSurrogate(c) || i == len || !Character.isLowSurrogate(n[i + 1])) {
                    return null;
                }
                i++;
            }
        }
        return n;
    }

    private boolean holdsAddedToken(String text, int at) {
        for (String a : addedTokens) {
            if (text.startsWith(a, at)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Appends the words of {@code n[from, to)} ({@code from} a word start, {@code to} the end), counting the tokens
     * that start before normalised position {@code at}.
     */
    private void encodeWords(char[] n, int from, int to, Words out, int at, WordCache cache) {
        int ws = from;
        int h = WordCache.hash(0, n[from]);
        for (int i = from + 1; i <= to; i++) {
            if (i < to && !(splitWords && n[i] == SPACE && n[i - 1] != SPACE)) {
                h = WordCache.hash(h, n[i]);
                continue;
            }
            BpeModel.Pieces p = word(n, ws, i, h, cache);
            out.add(ws, p.ids());
            if (ws < at) {
                int[] st = p.starts();
                for (int k = 0; k < st.length && ws + st[k] < at; k++) {
                    out.before++;
                    out.lastEnd = ws + p.ends()[k];
                }
            }
            ws = i;
            if (i < to) {
                h = WordCache.hash(0, n[i]);
            }
        }
    }

    /**
     * The tokens of one text as they are collected: ids, where each word starts and how many tokens precede it, and
     * the count and last end of the tokens that start before the cut.
     */
    private static final class Words {
        int[] ids;
        int size;
        int[] starts = new int[16];
        int[] tokensBefore = new int[16];
        int words;
        int before;
        int lastEnd;

        Words(int capacity) {
            ids = new int[capacity];
        }

        /**
         * Takes over the words of {@code prev} that start at or before {@code limit} but the last of them (which
         * may continue differently); returns where that last one starts (0 when none is taken).
         */
        int copyPrefix(Words prev, int limit) {
            int lo = 0;
            int hi = prev.words - 1;
            int k = 0;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                if (prev.starts[mid] <= limit) {
                    k = mid;
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            if (k == 0) {
                return 0;
            }
            int tokens = prev.tokensBefore[k];
            ensure(tokens);
            System.arraycopy(prev.ids, 0, ids, 0, tokens);
            size = tokens;
            starts = Arrays.copyOf(prev.starts, Math.max(16, k * 2));
            tokensBefore = Arrays.copyOf(prev.tokensBefore, starts.length);
            words = k;
            before = tokens;
            lastEnd = prev.starts[k];
            return prev.starts[k];
        }

        void add(int start, int[] w) {
            if (words == starts.length) {
                starts = Arrays.copyOf(starts, words * 2);
                tokensBefore = Arrays.copyOf(tokensBefore, words * 2);
            }
            starts[words] = start;
            tokensBefore[words++] = size;
            ensure(size + w.length);
            System.arraycopy(w, 0, ids, size, w.length);
            size += w.length;
        }

        private void ensure(int capacity) {
            if (capacity > ids.length) {
                ids = Arrays.copyOf(ids, Math.max(ids.length * 2, capacity));
            }
        }

        int[] ids() {
            return Arrays.copyOf(ids, size);
        }
    }

    private BpeModel.Pieces word(char[] n, int from, int to, int hash, WordCache cache) {
        if (to - from > MAX_CACHED_WORD) {
            return model.encodeWord(n, from, to);
        }
        BpeModel.Pieces p = cache.get(n, from, to, hash);
        if (p == null) {
            p = model.encodeWord(n, from, to);
            cache.put(n, from, to, hash, p);
        }
        return p;
    }
}
