package org.prefixshare.cli;

import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.ChatTemplate;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.FieldNames;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TextTokenizer;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.TokenizerConfig;
import org.prefixshare.data.TruncationConfig;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/**
 * The options that say what preference data to read and how to tokenise and truncate it; shared by every command
 * that reads a dataset ({@code data stats}, {@code train}, ...).
 */
public final class DatasetOptions {

    @Option(names = "--input", description = "JSONL or JSON array file, optionally gzipped.")
    public Path input;

    @Option(names = "--format", defaultValue = "prompt", converter = FormatConverter.class,
            description = "prompt | conversational | implicit | alpaca | ranked (default ${DEFAULT-VALUE}).")
    public PreferenceFormat format;

    @Option(names = "--tokenizer", description = "Hugging Face tokenizer.json (default: the built-in byte "
            + "tokenizer). A tokenizer_config.json beside it is read for BOS / EOS / pad.")
    public Path tokenizer;

    @Option(names = "--chat-template", description = "tokenizer_config.json whose chat_template is applied to "
            + "conversational data (default: a simple built-in template).")
    public Path chatTemplate;

    @Option(names = "--max-length", defaultValue = "1024",
            description = "Bound on prompt + longest response (TRL max_length); responses are cut at their end "
                    + "(default ${DEFAULT-VALUE}).")
    public int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "0",
            description = "Bound on the prompt (TRL max_prompt_length), keeping its end; 0 = none.")
    public int maxPromptLength;

    @Option(names = "--no-eos", description = "Do not append EOS to responses.")
    public boolean noEos;

    @Option(names = "--skip-invalid", description = "Skip bad records, counting them by reason.")
    public boolean skipInvalid;

    @Option(names = "--prompt-field", defaultValue = "prompt") String promptField;
    @Option(names = "--chosen-field", defaultValue = "chosen") String chosenField;
    @Option(names = "--rejected-field", defaultValue = "rejected") String rejectedField;
    @Option(names = "--instruction-field", defaultValue = "instruction") String instructionField;
    @Option(names = "--input-field", defaultValue = "input") String inputField;
    @Option(names = "--responses-field", defaultValue = "responses") String responsesField;

    /** Picocli converter using {@link PreferenceFormat#parse} (its error lists the valid names). */
    public static final class FormatConverter implements CommandLine.ITypeConverter<PreferenceFormat> {
        @Override
        public PreferenceFormat convert(String value) {
            return PreferenceFormat.parse(value);
        }
    }

    /** The tokenizer these options name (close it when done). */
    public TextTokenizer openTokenizer() {
        return tokenizer == null ? new ByteTokenizer() : HfTokenizer.load(tokenizer);
    }

    /** Example tokenisation with the chat template and EOS rule of these options. */
    public ExampleTokenizer exampleTokenizer(TextTokenizer tok) {
        return exampleTokenizer(tok, chatTemplate);
    }

    /**
     * Example tokenisation with the EOS rule of these options and the chat template of {@code templateConfig} (a
     * {@code tokenizer_config.json}; null: the built-in template).
     */
    public ExampleTokenizer exampleTokenizer(TextTokenizer tok, Path templateConfig) {
        TokenizerConfig templateCfg = templateConfig == null ? null : TokenizerConfig.load(templateConfig);
        ChatTemplate template = ChatTemplate.of(templateCfg, tok,
                templateConfig == null ? "the built-in chat template" : "the chat template of " + templateConfig);
        return new ExampleTokenizer(tok, template, !noEos);
    }

    /** Reader options: format, field names, invalid-record policy. */
    public ReaderOptions readerOptions() {
        FieldNames fields = new FieldNames(promptField, chosenField, rejectedField, instructionField, inputField,
                responsesField, "role", "content");
        return ReaderOptions.of(format).withFields(fields).withSkipInvalid(skipInvalid);
    }

    /** Truncation bounds; a document never exceeds one row of {@code packLength} (0: no bound). */
    public TruncationConfig truncation(int packLength) {
        return new TruncationConfig(maxLength, maxPromptLength, packLength);
    }

    /** The least pack length chosen when none is given. */
    public static final int MIN_AUTO_PACK_LENGTH = 512;

    /**
     * The pack length when none is given: the longest document of {@code examples} (truncated already), at least
     * {@value #MIN_AUTO_PACK_LENGTH}, rounded up to a multiple of 64. Every example fits: a document is the prompt
     * once and each response behind a copy of the prompt's last token, so a pair that --max-length L admits needs up
     * to 2L - P + 1 tokens, more than L.
     */
    public static int packLengthFor(List<TokenizedExample> examples) {
        int longest = 0;
        for (TokenizedExample e : examples) {
            longest = Math.max(longest, e.sharedLength());
        }
        return Math.max(MIN_AUTO_PACK_LENGTH, (longest + 63) / 64 * 64);
    }
}
