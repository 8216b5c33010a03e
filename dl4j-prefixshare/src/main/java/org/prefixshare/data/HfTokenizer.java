package org.prefixshare.data;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's Rust binding ({@code ai.djl.huggingface:tokenizers}).
 *
 * <p><b>Offline:</b> the DJL jar carries {@code libtokenizers.so} for linux-x86_64 (CPU) and extracts it into
 * {@code ~/.djl.ai/tokenizers/} (or {@code $DJL_CACHE_DIR}). DJL would try to download a CUDA flavour of the library
 * when it sees a GPU, so before first use this class sets the system properties {@code RUST_FLAVOR=cpu} and
 * {@code ai.djl.offline=true} unless the user has set them (the tokenizer needs no GPU). The override
 * {@code RUST_LIBRARY_PATH} (DJL's own) points at a pre-extracted library.
 *
 * <p><b>Encoding backends</b> ({@link Backend}): a {@code tokenizer.json} of the SentencePiece-style BPE family
 * (Llama-2 and kin, see {@link SentencePieceBpe}) is encoded in pure Java, token-for-token identical to the Rust
 * tokenizer and several times faster (no JNI crossing per text, each distinct word merged once); a text holding an
 * added token ({@code <s>}, ...) or an unpaired surrogate, and any other kind of file, go through DJL. Which one is
 * used is logged at load. Decoding always goes through DJL. DJL encoding uses its JNI entry points directly (ids
 * only), about 2-3x faster than {@link HuggingFaceTokenizer#encode(String)} that also materialises tokens, offsets
 * and masks.
 */
public final class HfTokenizer implements TextTokenizer {

    /** Who encodes: {@link #AUTO} (Java when the file is supported, else DJL), or one of them by force. */
    public enum Backend {
        /** Pure Java for a supported file, DJL otherwise. */
        AUTO,
        /** Pure Java; loading an unsupported file fails. */
        JAVA,
        /** DJL (Rust) only. */
        DJL
    }

    private static final Logger log = LoggerFactory.getLogger(HfTokenizer.class);

    static {
        if (System.getProperty("RUST_FLAVOR") == null && System.getenv("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
        if (System.getProperty("ai.djl.offline") == null && System.getenv("DJL_OFFLINE") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final long handle;
    private final Path path;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final boolean addsBos;
    private final int vocabSize;
    private final String bosToken;
    private final String eosToken;
    /** The Java encoder, or null when DJL encodes everything. */
    private final SentencePieceBpe javaBpe;

    private HfTokenizer(Path tokenizerJson, TokenizerConfig config, Backend backend) throws IOException {
        this.path = tokenizerJson;
        // read as JSON first: a syntax error gets its line and column, and DJL only sees a well-formed file
        JsonNode json = StrictJson.readObject(tokenizerJson, "tokenizer");
        TokenizerJsonCheck.check(json, tokenizerJson);
        try {
            this.tokenizer = HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        } catch (RuntimeException e) {
            // the Rust library's reason ("missing field `model`", "unknown variant", ...)
            throw new IllegalArgumentException("tokenizer " + tokenizerJson + " is not a Hugging Face tokenizer.json "
                    + "this version of the tokenizers library can load: " + e.getMessage());
        }
        this.handle = tokenizer.getHandle();
        TokenizersLibrary.LIB.disableTruncation(handle);
        TokenizersLibrary.LIB.disablePadding(handle);

        int vocab = json.path("model").path("vocab").size();
        int maxAdded = -1;
        for (JsonNode a : json.path("added_tokens")) {
            maxAdded = Math.max(maxAdded, a.path("id").asInt());
        }
        this.vocabSize = Math.max(vocab, maxAdded + 1);
        String unsupported = backend == Backend.DJL ? "DJL backend requested"
                : SentencePieceBpe.unsupportedReason(json);
        if (unsupported != null && backend == Backend.JAVA) {
            tokenizer.close();
            throw new IllegalArgumentException("no Java encoder for " + tokenizerJson + ": " + unsupported);
        }
        this.javaBpe = unsupported == null ? SentencePieceBpe.of(json) : null;

        // BOS: the config's, else whatever the post-processor puts in front of a text.
        long[] plain = ids("a", false);
        long[] special = ids("a", true);
        int postBos = special.length > plain.length && plain.length > 0 && special[0] != plain[0]
                ? (int) special[0] : -1;
        String bos = config.bosToken();
        int bosFromConfig = bos == null ? -1 : singleId(bos);
        this.bosId = bosFromConfig >= 0 ? bosFromConfig : postBos;
        this.bosToken = bosId < 0 ? "" : (bos != null ? bos : tokenizer.decode(new long[]{bosId}, false));
        this.addsBos = config.addBosToken() != null ? config.addBosToken() && bosId >= 0 : postBos >= 0;
        String eos = config.eosToken();
        if (eos == null) {
            for (String guess : new String[]{"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"}) {
                if (singleId(guess) >= 0) {
                    eos = guess;
                    break;
                }
            }
        }
        this.eosId = eos == null ? -1 : singleId(eos);
        this.eosToken = eosId < 0 ? "" : eos;
        int pad = config.padToken() == null ? -1 : singleId(config.padToken());
        this.padId = pad >= 0 ? pad : 0;
        log.info("tokenizer {}: vocab {}, bos {} ({}), eos {} ({}), pad {}, adds BOS to text: {}; encoder: {}",
                tokenizerJson, vocabSize, bosId, bosToken, eosId, eosToken, padId, addsBos, encoder(unsupported));
    }

    private String encoder(String whyNotJava) {
        if (javaBpe == null) {
            return "DJL (" + whyNotJava + ")";
        }
        return "pure Java SentencePiece-style BPE (" + (javaBpe.splitsWords() ? "per word" : "whole text")
                + "; DJL for texts holding added tokens or unpaired surrogates)";
    }

    /** Loads {@code tokenizer.json}; {@code config} (from {@code tokenizer_config.json}) may be empty. */
    public static HfTokenizer load(Path tokenizerJson, TokenizerConfig config) {
        return load(tokenizerJson, config, Backend.AUTO);
    }

    /** Loads {@code tokenizer.json} with the given encoding backend. */
    public static HfTokenizer load(Path tokenizerJson, TokenizerConfig config, Backend backend) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new IllegalArgumentException("tokenizer file not found: " + tokenizerJson);
        }
        try {
            return new HfTokenizer(tokenizerJson, config == null ? TokenizerConfig.empty() : config, backend);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
    }

    /** Loads {@code tokenizer.json}, reading {@code tokenizer_config.json} beside it when there is one. */
    public static HfTokenizer load(Path tokenizerJson) {
        Path cfg = tokenizerJson.toAbsolutePath().resolveSibling("tokenizer_config.json");
        return load(tokenizerJson, Files.isRegularFile(cfg) ? TokenizerConfig.load(cfg) : TokenizerConfig.empty());
    }

    private int singleId(String text) {
        long[] ids = ids(text, false);
        return ids.length == 1 ? (int) ids[0] : -1;
    }

    private long[] ids(String text, boolean specials) {
        long enc = TokenizersLibrary.LIB.encode(handle, text, specials);
        try {
            return TokenizersLibrary.LIB.getTokenIds(enc);
        } finally {
            TokenizersLibrary.LIB.deleteEncoding(enc);
        }
    }

    private static int[] toInt(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /** The encoder in use: {@link Backend#JAVA} or {@link Backend#DJL}. */
    public Backend backend() {
        return javaBpe != null ? Backend.JAVA : Backend.DJL;
    }

    @Override
    public int[] encode(String text) {
        int[] ids = javaBpe == null ? null : javaBpe.encode(text);
        return ids != null ? ids : toInt(ids(text, false));
    }

    @Override
    public List<int[]> encodeBatch(List<String> texts) {
        if (javaBpe != null || texts.size() < 8) {
            return TextTokenizer.super.encodeBatch(texts);
        }
        long[] encs = TokenizersLibrary.LIB.batchEncode(handle, texts.toArray(new String[0]), false);
        List<int[]> out = new ArrayList<>(encs.length);
        try {
            for (long e : encs) {
                out.add(toInt(TokenizersLibrary.LIB.getTokenIds(e)));
            }
        } finally {
            for (long e : encs) {
                TokenizersLibrary.LIB.deleteEncoding(e);
            }
        }
        return out;
    }

    @Override
    public List<Split> encodeSplit(List<String> texts, int[] cuts) {
        if (javaBpe == null) {
            return djlSplit(texts, cuts);
        }
        // the Java encoder takes all texts in one pass (it reuses what consecutive texts share); DJL the rest
        Split[] out = javaBpe.encodeAll(texts, cuts);
        for (int i = 0; i < out.length; i++) {
            if (out[i] == null) {
                out[i] = djlSplit(List.of(texts.get(i)), new int[]{cuts[i]}).get(0);
            }
        }
        return Arrays.asList(out);
    }

    private List<Split> djlSplit(List<String> texts, int[] cuts) {
        long[] encs = TokenizersLibrary.LIB.batchEncode(handle, texts.toArray(new String[0]), false);
        List<Split> out = new ArrayList<>(encs.length);
        try {
            for (int i = 0; i < encs.length; i++) {
                int[] ids = toInt(TokenizersLibrary.LIB.getTokenIds(encs[i]));
                CharSpan[] spans = TokenizersLibrary.LIB.getTokenCharSpans(encs[i]);
                // Rust's offsets count code points; the cut counts UTF-16 chars
                int cut = cuts[i] <= 0 ? cuts[i] : texts.get(i).codePointCount(0, cuts[i]);
                int b = 0;
                while (b < spans.length && spans[b] != null && spans[b].getStart() < cut) {
                    b++;
                }
                // a token without a span (DJL gives none for some post-processor templates) leaves the split unknown
                boolean clean = spans.length == ids.length && Arrays.stream(spans).allMatch(Objects::nonNull)
                        && (b == 0 || spans[b - 1].getEnd() <= cut);
                out.add(new Split(ids, clean ? b : -1));
            }
        } finally {
            for (long e : encs) {
                TokenizersLibrary.LIB.deleteEncoding(e);
            }
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, false);
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public boolean addsBos() {
        return addsBos;
    }

    @Override
    public int padId() {
        return padId;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public String bosToken() {
        return bosToken;
    }

    @Override
    public String eosToken() {
        return eosToken;
    }

    /** The file this tokenizer was loaded from. */
    public Path path() {
        return path;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
