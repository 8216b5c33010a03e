package org.prefixshare.data;

import java.nio.charset.StandardCharsets;

/**
 * A built-in byte-level tokenizer that needs no files: id 0 = padding, 1 = BOS ({@code <s>}), 2 = EOS
 * ({@code </s>}), and byte {@code b} = id {@code 3 + b} of the text's UTF-8 encoding. Vocabulary size 259. The texts
 * {@code "<s>"} and {@code "</s>"} are recognised as the special tokens. It never merges across a boundary, so the
 * prompt/response split is always exact.
 */
public final class ByteTokenizer implements TextTokenizer {

    /** Padding id. */
    public static final int PAD = 0;
    /** Beginning-of-sequence id. */
    public static final int BOS = 1;
    /** End-of-sequence id. */
    public static final int EOS = 2;
    /** First byte id. */
    public static final int OFFSET = 3;
    private static final String BOS_TEXT = "<s>";
    private static final String EOS_TEXT = "</s>";

    private final boolean addsBos;

    /** A byte tokenizer that, like Llama's, adds BOS in front of plain-text prompts. */
    public ByteTokenizer() {
        this(true);
    }

    /** A byte tokenizer; {@code addsBos} says whether plain-text prompts get a BOS. */
    public ByteTokenizer(boolean addsBos) {
        this.addsBos = addsBos;
    }

    @Override
    public int[] encode(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] out = new int[b.length];
        int n = 0;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '<' && startsWith(b, i, BOS_TEXT)) {
                out[n++] = BOS;
                i += BOS_TEXT.length() - 1;
            } else if (b[i] == '<' && startsWith(b, i, EOS_TEXT)) {
                out[n++] = EOS;
                i += EOS_TEXT.length() - 1;
            } else {
                out[n++] = OFFSET + (b[i] & 0xff);
            }
        }
        return n == out.length ? out : java.util.Arrays.copyOf(out, n);
    }

    private static boolean startsWith(byte[] b, int at, String s) {
        if (at + s.length() > b.length) {
            return false;
        }
        for (int j = 0; j < s.length(); j++) {
            if (b[at + j] != s.charAt(j)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String decode(int[] ids) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(ids.length);
        for (int id : ids) {
            if (id == BOS) {
                out.writeBytes(BOS_TEXT.getBytes(StandardCharsets.US_ASCII));
            } else if (id == EOS) {
                out.writeBytes(EOS_TEXT.getBytes(StandardCharsets.US_ASCII));
            } else if (id >= OFFSET && id < OFFSET + 256) {
                out.write(id - OFFSET);
            } else if (id != PAD) {
                throw new IllegalArgumentException("id " + id + " is outside the byte tokenizer's vocabulary (259)");
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public int bosId() {
        return BOS;
    }

    @Override
    public int eosId() {
        return EOS;
    }

    @Override
    public boolean addsBos() {
        return addsBos;
    }

    @Override
    public int padId() {
        return PAD;
    }

    @Override
    public int vocabSize() {
        return OFFSET + 256;
    }

    @Override
    public String bosToken() {
        return BOS_TEXT;
    }

    @Override
    public String eosToken() {
        return EOS_TEXT;
    }
}
