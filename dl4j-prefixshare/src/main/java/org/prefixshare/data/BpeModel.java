package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The {@code model} of a Hugging Face {@code tokenizer.json} of type BPE, in Java: vocabulary, ranked merges, unknown
 * token and byte fallback. {@link #encodeWord} is the Hugging Face algorithm ({@code tokenizers}
 * {@code Word::merge_all}): one symbol per character (a character outside the vocabulary becomes its UTF-8 bytes
 * {@code <0xXX>} with byte fallback, else the unknown token, consecutive ones fused with {@code fuse_unk}); then,
 * repeatedly, the adjacent pair with the lowest merge rank is merged, the leftmost first among equal ranks, until no
 * adjacent pair has a merge.
 * Supported: no dropout, no continuing-subword prefix, no end-of-word suffix, merges not ignored (see
 * {@link #unsupportedReason}). Immutable and thread-safe.
 */
final class BpeModel {

    /**
     * The tokens of one word and where each lies in it (chars, relative to the word's start; the byte-fallback tokens
     * of one character all span that character).
     */
    record Pieces(int[] ids, int[] starts, int[] ends) {
    }

    private final int[] bmpIds;
    private final Map<Integer, Integer> astralIds = new HashMap<>();
    private final int[] byteIds;
    private final int unkId;
    private final boolean fuseUnk;
    private final PairRanks merges;

    private BpeModel(JsonNode model) {
        JsonNode v = model.path("vocab");
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        bmpIds = new int[Character.MAX_VALUE + 1];
        Arrays.fill(bmpIds, -1);
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String tok = e.getKey();
            int id = e.getValue().asInt();
            vocab.put(tok, id);
            if (tok.codePointCount(0, tok.length()) == 1) {
                int cp = tok.codePointAt(0);
                if (cp <= Character.MAX_VALUE) {
                    bmpIds[cp] = id;
                } else {
                    astralIds.put(cp, id);
                }
            }
        }
        JsonNode unk = model.path("unk_token");
        unkId = unk.isTextual() && vocab.containsKey(unk.asText()) ? vocab.get(unk.asText()) : -1;
        fuseUnk = model.path("fuse_unk").asBoolean(false);
        byteIds = model.path("byte_fallback").asBoolean(false) ? byteTokens(vocab) : null;
        if (byteIds == null && unkId < 0) {
            throw new IllegalArgumentException("the unk_token is not in the vocabulary");
        }
        JsonNode m = model.path("merges");
        merges = new PairRanks(m.size());
        for (int rank = 0; rank < m.size(); rank++) {
            String[] pair = mergePair(m.get(rank));
            Integer a = vocab.get(pair[0]);
            Integer b = vocab.get(pair[1]);
            Integer ab = vocab.get(pair[0] + pair[1]);
            if (a == null || b == null || ab == null) {
                throw new IllegalArgumentException("merge " + rank + " (" + pair[0] + " " + pair[1]
                        + ") refers to a token outside the vocabulary");
            }
            merges.put(a, b, rank, ab);
        }
    }

    /** Why this {@code model} node is not supported, or null when it is. */
    static String unsupportedReason(JsonNode model) {
        if (!"BPE".equals(model.path("type").asText())) {
            return "model.type is " + model.path("type").asText("missing") + ", not BPE";
        }
        if (!model.path("dropout").isNull() && !model.path("dropout").isMissingNode()) {
            return "BPE dropout is set";
        }
        for (String f : new String[]{"continuing_subword_prefix", "end_of_word_suffix"}) {
            JsonNode n = model.path(f);
            if (!n.isNull() && !n.isMissingNode() && !n.asText().isEmpty()) {
                return f + " is set";
            }
        }
        if (model.path("ignore_merges").asBoolean(false)) {
            return "ignore_merges is set";
        }
        boolean byteFallback = model.path("byte_fallback").asBoolean(false);
        if (byteFallback) {
            for (int b = 0; b < 256; b++) {
                if (!model.path("vocab").has(byteToken(b))) {
                    return "byte_fallback without all 256 <0xXX> tokens";
                }
            }
        } else if (!model.path("unk_token").isTextual()) {
            return "neither byte_fallback nor an unk_token";
        }
        return null;
    }

    /** Builds the model of a supported {@code model} node (see {@link #unsupportedReason}). */
    static BpeModel of(JsonNode model) {
        String why = unsupportedReason(model);
        if (why != null) {
            throw new IllegalArgumentException("unsupported BPE model: " + why);
        }
        return new BpeModel(model);
    }

    private static int[] byteTokens(Map<String, Integer> vocab) {
        int[] ids = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(byteToken(b));
            if (id == null) {
                return null;
            }
            ids[b] = id;
        }
        return ids;
    }

    private static String byteToken(int b) {
        return String.format("<0x%02X>", b);
    }

    private static String[] mergePair(JsonNode m) {
        if (m.isArray() && m.size() == 2) {
            return new String[]{m.get(0).asText(), m.get(1).asText()};
        }
        String s = m.asText();
        int sp = s.indexOf(' ');
        if (sp < 0 || s.indexOf(' ', sp + 1) >= 0) {
            throw new IllegalArgumentException("malformed merge: " + s);
        }
        return new String[]{s.substring(0, sp), s.substring(sp + 1)};
    }

    private int charId(int cp) {
        if (cp <= Character.MAX_VALUE) {
            return bmpIds[cp];
        }
        Integer id = astralIds.get(cp);
        return id == null ? -1 : id;
    }

    /** Words of at most this many symbols are merged by scanning; longer ones with a heap (same result). */
    static final int SCAN_LIMIT = 32;

    /** Encodes {@code text[from, to)} as one word. */
    Pieces encodeWord(char[] text, int from, int to) {
        Symbols s = symbols(text, from, to);
        if (s.n <= SCAN_LIMIT) {
            s.mergeByScan(merges);
        } else {
            s.mergeAll(merges);
        }
        return s.pieces();
    }

    /** Encodes {@code text[from, to)} as one word with the heap, whatever its length (tests compare the two). */
    Pieces encodeWordWithHeap(char[] text, int from, int to) {
        Symbols s = symbols(text, from, to);
        s.mergeAll(merges);
        return s.pieces();
    }

    private Symbols symbols(char[] text, int from, int to) {
        Symbols s = new Symbols(to - from);
        for (int i = from; i < to; ) {
            int cp = Character.codePointAt(text, i, to);
            int len = Character.charCount(cp);
            int id = charId(cp);
            int st = i - from;
            if (id >= 0) {
                s.add(id, st, st + len, false);
            } else if (byteIds != null) {
                addUtf8(s, cp, st, st + len);
            } else if (fuseUnk && s.lastIsUnk()) {
                s.extendLast(st + len);
            } else {
                s.add(unkId, st, st + len, true);
            }
            i += len;
        }
        return s;
    }

    /** The {@code <0xXX>} tokens of the code point's UTF-8 bytes, each spanning the character. */
    private void addUtf8(Symbols s, int cp, int st, int en) {
        if (cp < 0x80) {
            s.add(byteIds[cp], st, en, false);
        } else if (cp < 0x800) {
            s.add(byteIds[0xC0 | cp >> 6], st, en, false);
            s.add(byteIds[0x80 | cp & 0x3F], st, en, false);
        } else if (cp < 0x10000) {
            s.add(byteIds[0xE0 | cp >> 12], st, en, false);
            s.add(byteIds[0x80 | cp >> 6 & 0x3F], st, en, false);
            s.add(byteIds[0x80 | cp & 0x3F], st, en, false);
        } else {
            s.add(byteIds[0xF0 | cp >> 18], st, en, false);
            s.add(byteIds[0x80 | cp >> 12 & 0x3F], st, en, false);
            s.add(byteIds[0x80 | cp >> 6 & 0x3F], st, en, false);
            s.add(byteIds[0x80 | cp & 0x3F], st, en, false);
        }
    }

    /** The symbols of one word while it is being merged: a doubly linked list over arrays. */
    private static final class Symbols {
        int[] id;
        int[] start;
        int[] end;
        int[] prev;
        int[] next;
        boolean[] unk;
        int n;

        Symbols(int chars) {
            int cap = Math.max(4, chars);
            id = new int[cap];
            start = new int[cap];
            end = new int[cap];
            unk = new boolean[cap];
        }

        void add(int tokenId, int st, int en, boolean isUnk) {
            if (n == id.length) {
                int cap = n * 2;
                id = Arrays.copyOf(id, cap);
                start = Arrays.copyOf(start, cap);
                end = Arrays.copyOf(end, cap);
                unk = Arrays.copyOf(unk, cap);
            }
            id[n] = tokenId;
            start[n] = st;
            end[n] = en;
            unk[n] = isUnk;
            n++;
        }

        boolean lastIsUnk() {
            return n > 0 && unk[n - 1];
        }

        void extendLast(int en) {
            end[n - 1] = en;
        }

        /**
         * Merges by rank then position like {@link #mergeAll}, for short words: repeatedly finds the adjacent pair
         * with the lowest rank (leftmost among equal ones) by a scan over the remaining symbols. The heap holds every
         * current pair (stale entries skipped), so it pops exactly this pair each time: same merges, same order.
         */
        void mergeByScan(PairRanks merges) {
            long[] pair = new long[Math.max(1, n)];
            for (int i = 0; i + 1 < n; i++) {
                pair[i] = merges.get(id[i], id[i + 1]);
            }
            while (n > 1) {
                int best = -1;
                long bestRank = Long.MAX_VALUE;
                for (int i = 0; i + 1 < n; i++) {
                    long m = pair[i];
                    if (m >= 0 && (m >>> 32) < bestRank) {
                        bestRank = m >>> 32;
                        best = i;
                    }
                }
                if (best < 0) {
                    return;
                }
                id[best] = (int) pair[best];
                end[best] = end[best + 1];
                int tail = n - best - 2;
                System.arraycopy(id, best + 2, id, best + 1, tail);
                System.arraycopy(start, best + 2, start, best + 1, tail);
                System.arraycopy(end, best + 2, end, best + 1, tail);
                System.arraycopy(pair, best + 2, pair, best + 1, tail);
                n--;
                if (best > 0) {
                    pair[best - 1] = merges.get(id[best - 1], id[best]);
                }
                pair[best] = best + 1 < n ? merges.get(id[best], id[best + 1]) : -1L;
            }
        }

        /** Merges by rank then position (Hugging Face's heap order), skipping stale heap entries. */
        void mergeAll(PairRanks merges) {
            if (n < 2) {
                return;
            }
            prev = new int[n];
            next = new int[n];
            for (int i = 0; i < n; i++) {
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
            }
            LongHeap heap = new LongHeap(n);
            for (int i = 0; i + 1 < n; i++) {
                push(heap, merges, i, i + 1);
            }
            while (!heap.isEmpty()) {
                long top = heap.pop();
                int pos = (int) top;
                int rank = (int) (top >>> 32);
                int nx = next[pos];
                if (id[pos] < 0 || nx < 0) {
                    continue;
                }
                long m = merges.get(id[pos], id[nx]);
                if (m < 0 || (int) (m >>> 32) != rank) {
                    continue;
                }
                id[pos] = (int) m;
                end[pos] = end[nx];
                id[nx] = -1;
                next[pos] = next[nx];
                if (next[nx] >= 0) {
                    prev[next[nx]] = pos;
                }
                if (prev[pos] >= 0) {
                    push(heap, merges, prev[pos], pos);
                }
                if (next[pos] >= 0) {
                    push(heap, merges, pos, next[pos]);
                }
            }
        }

        private void push(LongHeap heap, PairRanks merges, int left, int right) {
            long m = merges.get(id[left], id[right]);
            if (m >= 0) {
                heap.push((m & 0xFFFFFFFF00000000L) | left);
            }
        }

        Pieces pieces() {
            int k = 0;
            for (int i = 0; i < n; i++) {
                if (id[i] >= 0) {
                    k++;
                }
            }
            int[] ids = new int[k];
            int[] st = new int[k];
            int[] en = new int[k];
            int j = 0;
            for (int i = 0; i < n; i++) {
                if (id[i] >= 0) {
                    ids[j] = id[i];
                    st[j] = start[i];
                    en[j++] = end[i];
                }
            }
            return new Pieces(ids, st, en);
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) {
            a = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) {
                    break;
                }
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long v = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) {
                    break;
                }
                if (c + 1 < size && a[c + 1] < a[c]) {
                    c++;
                }
                if (a[c] >= v) {
                    break;
                }
                a[i] = a[c];
                i = c;
            }
            a[i] = v;
            return top;
        }
    }
}
