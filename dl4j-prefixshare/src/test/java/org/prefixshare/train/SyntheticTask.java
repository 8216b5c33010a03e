package org.prefixshare.train;

import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.synthetic.SyntheticPreferences;

import java.util.List;

/** The embedded synthetic task, tokenised with the byte tokenizer (as {@code prefixshare train} does). */
final class SyntheticTask {

    private SyntheticTask() {
    }

    /** {train, held-out}: one generated list split at {@code train}, so example ids stay unique. */
    static List<List<TokenizedExample>> split(int train, int heldOut, long seed) {
        List<TokenizedExample> all = new ExampleTokenizer(new ByteTokenizer())
                .tokenizeAll(SyntheticPreferences.generate(train + heldOut, seed));
        return List.of(all.subList(0, train), all.subList(train, all.size()));
    }
}
