package org.prefixshare.data;

import java.util.ArrayList;
import java.util.List;

/**
 * A tokenizer as the data pipeline needs it: text to ids without any special tokens added (BOS / EOS are the
 * pipeline's business, see {@link ExampleTokenizer}), ids back to text, and the special ids.
 */
public interface TextTokenizer extends AutoCloseable {

    /** Token ids of {@code text}, no special tokens added (special tokens written in the text are recognised). */
    int[] encode(String text);

    /** Encodes several texts; implementations may do it in parallel. */
    default List<int[]> encodeBatch(List<String> texts) {
        List<int[]> out = new ArrayList<>(texts.size());
        for (String t : texts) {
            out.add(encode(t));
        }
        return out;
    }

    /**
     * Token ids of a text and where a character position falls in them.
     *
     * @param ids      the ids of the whole text
     * @param boundary the index of the first token at or after the cut when a token boundary lies exactly at the cut;
     *                 -1 when a token straddles it (or the tokenizer cannot tell)
     */
    record Split(int[] ids, int boundary) {
    }

    /**
     * Encodes each text and locates {@code cuts[i]} (a char index into text i) among its tokens. The default cannot
     * see offsets and reports {@code boundary = -1}; tokenizers with offsets override it.
     */
    default List<Split> encodeSplit(List<String> texts, int[] cuts) {
        List<int[]> ids = encodeBatch(texts);
        List<Split> out = new ArrayList<>(ids.size());
        for (int[] i : ids) {
            out.add(new Split(i, -1));
        }
        return out;
    }

    /** Text of the ids (special tokens kept). */
    String decode(int[] ids);

    /** The beginning-of-sequence id, or -1 when the tokenizer has none. */
    int bosId();

    /** The end-of-sequence id, or -1 when the tokenizer has none. */
    int eosId();

    /** Whether the tokenizer, used the Hugging Face way with special tokens, puts BOS in front of a text. */
    boolean addsBos();

    /** The id used for padding (rows are padded with it; it is never scored). */
    int padId();

    /** Size of the vocabulary. */
    int vocabSize();

    /** The BOS token's text ("" when none), as chat templates see it. */
    String bosToken();

    /** The EOS token's text ("" when none), as chat templates see it. */
    String eosToken();

    @Override
    default void close() {
    }
}
