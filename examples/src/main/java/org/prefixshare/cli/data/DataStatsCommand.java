package org.prefixshare.cli.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.ChatTemplate;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.FieldNames;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.InvalidInputException;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TextTokenizer;
import org.prefixshare.data.TokenizerConfig;
import org.prefixshare.data.TruncationConfig;
import org.prefixshare.layout.SharedLayoutBuilder;
import org.prefixshare.pack.DatasetStats;
import org.prefixshare.pack.PackConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare data stats}: reads, tokenises, truncates and packs a preference dataset, checks that every
 * example decoded from the packed prefix-shared rows equals its paired form, and reports the savings.
 */
@Command(name = "stats",
        description = "Token savings, packing efficiency and the shared-vs-paired round trip over a dataset.")
public final class DataStatsCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--input", required = true, description = "JSONL or JSON array file, optionally gzipped.")
    Path input;

    @Option(names = "--format", required = true, converter = FormatConverter.class,
            description = "prompt | conversational | implicit | alpaca | ranked")
    PreferenceFormat format;

    @Option(names = "--tokenizer", description = "Hugging Face tokenizer.json (default: the built-in byte "
            + "tokenizer). A tokenizer_config.json beside it is read for BOS / EOS / pad.")
    Path tokenizer;

    @Option(names = "--chat-template", description = "tokenizer_config.json whose chat_template is applied to "
            + "conversational data (default: a simple built-in template).")
    Path chatTemplate;

    @Option(names = "--max-length", required = true,
            description = "Bound on prompt + longest response (TRL max_length); responses are cut at their end.")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "0",
            description = "Bound on the prompt (TRL max_prompt_length), keeping its end; 0 = none.")
    int maxPromptLength;

    @Option(names = "--pack-length", required = true, description = "Row length T of packed rows.")
    int packLength;

    @Option(names = "--rows-per-batch", defaultValue = "8", description = "Rows per batch.")
    int rowsPerBatch;

    @Option(names = "--no-packing", description = "One document per row, padded to a multiple of 64.")
    boolean noPacking;

    @Option(names = "--window", defaultValue = "0",
            description = "Documents per shuffling / packing window; 0 = the whole file.")
    int window;

    @Option(names = "--seed", defaultValue = "0", description = "Shuffling seed.")
    long seed;

    @Option(names = "--no-eos", description = "Do not append EOS to responses.")
    boolean noEos;

    @Option(names = "--skip-invalid", description = "Skip bad records, counting them by reason.")
    boolean skipInvalid;

    @Option(names = "--prompt-field", defaultValue = "prompt") String promptField;
    @Option(names = "--chosen-field", defaultValue = "chosen") String chosenField;
    @Option(names = "--rejected-field", defaultValue = "rejected") String rejectedField;
    @Option(names = "--instruction-field", defaultValue = "instruction") String instructionField;
    @Option(names = "--input-field", defaultValue = "input") String inputField;
    @Option(names = "--responses-field", defaultValue = "responses") String responsesField;

    @Option(names = "--json", description = "End with one line holding a JSON object of the statistics.")
    boolean json;

    /** Picocli converter using {@link PreferenceFormat#parse} (its error lists the valid names). */
    public static final class FormatConverter implements CommandLine.ITypeConverter<PreferenceFormat> {
        @Override
        public PreferenceFormat convert(String value) {
            return PreferenceFormat.parse(value);
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TokenizerConfig templateCfg = chatTemplate == null ? null : TokenizerConfig.load(chatTemplate);
        TextTokenizer tok = tokenizer == null ? new ByteTokenizer() : HfTokenizer.load(tokenizer);
        try {
            // setup, not timed: one batch through the tokenizer starts its thread pool and pages in its tables
            List<String> warm = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                warm.add("Below is an instruction that describes a task. " + i);
            }
            tok.encodeBatch(warm);
            ChatTemplate tpl = ChatTemplate.of(templateCfg, tok);
            ExampleTokenizer et = new ExampleTokenizer(tok, tpl, !noEos);
            FieldNames fields = new FieldNames(promptField, chosenField, rejectedField, instructionField, inputField,
                    responsesField, "role", "content");
            ReaderOptions ro = ReaderOptions.of(format).withFields(fields).withSkipInvalid(skipInvalid);
            PackConfig pc = PackConfig.defaults(packLength, rowsPerBatch, seed).withPacking(!noPacking)
                    .withWindowSize(window).withPrefetch(0).withPadId(tok.padId());
            DatasetStats s;
            try {
                s = DatasetStats.compute(input, ro, et, new TruncationConfig(maxLength, maxPromptLength, packLength),
                        pc);
            } catch (InvalidInputException e) {
                err.println("error: " + e.getMessage());
                err.println("(use --skip-invalid to skip bad records and count them)");
                err.flush();
                return 2;
            }
            out.printf("input:                %s (%s)%n", input, format.name().toLowerCase());
            out.printf("tokenizer:            %s%n", tokenizer == null ? "built-in bytes" : tokenizer);
            out.printf("examples read:        %d%n", s.examples());
            out.printf("dropped:              %s%n", s.dropped().isEmpty() ? "none" : s.dropped());
            out.printf("identical responses:  %d (kept; no preference signal)%n", s.identicalResponses());
            out.printf("boundary merges:      %d%n", s.boundaryMerges());
            out.printf("truncated:            %d prompts, %d responses%n", s.promptsTruncated(),
                    s.responsesTruncated());
            out.printf("tokens paired:        %d%n", s.pairedTokens());
            out.printf("tokens prefix-shared: %d (ratio %.3f)%n", s.sharedTokens(), s.tokenRatio());
            out.printf("median total length:  %.1f%n", s.medianLength());
            out.printf("median prompt/completion ratio: %.3f%n", s.medianPromptCompletionRatio());
            out.printf("rows:                 %d x %d%s%n", s.rows(), packLength, noPacking ? " (no packing)" : "");
            out.printf("packing efficiency:   %.4f%n", s.packingEfficiency());
            out.printf("first row mask:       %.4f visible%n", s.firstRowVisibleFraction());
            out.printf("examples/s:           %.0f%n", s.examplesPerS());
            out.printf("roundtrip:            %s%n", s.roundtripOk() ? "ok" : "FAILED " + s.problems());
            if (!json) {
                printSampleMask(out, ro, et);
            }
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(s.toJsonMap()));
            }
            out.flush();
            return s.roundtripOk() ? 0 : 1;
        } finally {
            tok.close();
        }
    }

    private void printSampleMask(PrintWriter out, ReaderOptions ro, ExampleTokenizer et) {
        try (var stream = new org.prefixshare.data.PreferenceReader(ro)
                .open(input, new org.prefixshare.data.ReadCounts())) {
            if (stream.hasNext()) {
                var ex = et.tokenize(stream.next());
                var row = SharedLayoutBuilder.build(ex).toRow();
                out.println("mask of the first document ('#' visible):");
                out.print(row.toAscii(48));
            }
        } catch (RuntimeException e) {
            out.println("(no sample mask: " + e.getMessage() + ")");
        }
    }
}
