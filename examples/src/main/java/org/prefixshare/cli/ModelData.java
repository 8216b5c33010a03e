package org.prefixshare.cli;

import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.DropCounts;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.PreferenceExample;
import org.prefixshare.data.PreferenceReader;
import org.prefixshare.data.ReadCounts;
import org.prefixshare.data.TextTokenizer;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.Truncator;
import org.prefixshare.data.synthetic.SyntheticPreferences;
import org.prefixshare.hf.ModelSource;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model and the examples to run it on, read the way every command reads them: the tokenizer of {@code --tokenizer},
 * else the model directory's own, else the built-in byte tokenizer; the chat template of {@code --chat-template},
 * else the model directory's {@code tokenizer_config.json}; examples from {@code --input} (or the embedded
 * synthetic task), tokenised and truncated, with what was dropped counted.
 *
 * @param source   the model, its vocabulary widened to the tokenizer's when it is a preset
 * @param examples the examples kept
 * @param dropped  examples dropped because they do not fit
 * @param tokenizerDir the directory of the {@code tokenizer.json} used, or null for the byte tokenizer
 * @param packLength the pack length asked for, or when 0 was asked the one that fits every example
 *                   ({@link DatasetOptions#packLengthFor})
 * @param promptKeys the raw prompt of each example by id (the held-out split keeps a prompt's examples together)
 */
record ModelData(ModelSource source, List<TokenizedExample> examples, int dropped, Path tokenizerDir, int packLength,
                 Map<Long, Object> promptKeys) {

    /**
     * Reads the data for {@code source}.
     *
     * @param packLength the pack length (0: the one that fits every example; the examples are then not bounded by it)
     * @param synthetic examples of the embedded synthetic task to generate when there is no {@code --input} (0: the
     *                  input is required)
     * @param limit     keep only the first N examples read (0: all)
     */
    static ModelData load(DatasetOptions data, ModelSource source, int packLength, int synthetic, int limit,
                          long seed, PrintWriter log) {
        try (TextTokenizer tok = openTokenizer(data, source, log)) {
            if (tok.vocabSize() > source.decoder().vocabSize()) {
                source = source.withVocabSize(tok.vocabSize());
            }
            Path template = data.chatTemplate != null ? data.chatTemplate : source.tokenizerConfig().orElse(null);
            ExampleTokenizer et = data.exampleTokenizer(tok, template);
            List<PreferenceExample> raw;
            if (data.input == null) {
                if (synthetic <= 0) {
                    throw new IllegalArgumentException("--input FILE is required");
                }
                raw = SyntheticPreferences.generate(synthetic, seed);
                log.printf("data: %d examples of the embedded synthetic preference task (seed %d)%n", raw.size(),
                        seed);
            } else {
                ReadCounts rc = new ReadCounts();
                raw = new PreferenceReader(data.readerOptions()).readAll(data.input, rc);
                log.printf("data: %d examples from %s (%d records skipped as invalid)%n", raw.size(), data.input,
                        rc.skippedTotal());
            }
            if (limit > 0 && raw.size() > limit) {
                raw = raw.subList(0, limit);
            }
            DropCounts dropped = new DropCounts();
            List<TokenizedExample> kept = new Truncator(data.truncation(packLength), tok.bosId())
                    .applyAll(et.tokenizeAll(raw), dropped);
            if (kept.size() < raw.size()) {
                log.printf("dropped %d examples that do not fit: %s%n", raw.size() - kept.size(), dropped);
            }
            log.flush();
            int pack = packLength;
            if (pack == 0) {
                pack = DatasetOptions.packLengthFor(kept);
                log.printf("pack length %d (the longest document, at least %d; --pack-length sets it)%n", pack,
                        DatasetOptions.MIN_AUTO_PACK_LENGTH);
            }
            Map<Long, Object> prompts = new HashMap<>();
            raw.forEach(e -> prompts.put(e.id(), e.prompt()));
            Path tokenizerJson = data.tokenizer != null ? data.tokenizer : source.tokenizerJson().orElse(null);
            return new ModelData(source, kept, raw.size() - kept.size(),
                    tokenizerJson == null ? null : tokenizerJson.toAbsolutePath().getParent(), pack, prompts);
        }
    }

    private static TextTokenizer openTokenizer(DatasetOptions data, ModelSource source, PrintWriter log) {
        if (data.tokenizer != null) {
            return HfTokenizer.load(data.tokenizer);
        }
        if (source.tokenizerJson().isPresent()) {
            return HfTokenizer.load(source.tokenizerJson().get());
        }
        if (source.directory() != null) {
            log.printf("note: %s has no tokenizer.json; using the built-in byte tokenizer (pass --tokenizer to use "
                    + "another)%n", source.directory());
        }
        return new ByteTokenizer();
    }
}
