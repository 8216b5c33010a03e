package org.prefixshare.cli.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.ChatTemplate;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.FieldNames;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TextTokenizer;
import org.prefixshare.data.TokenizerConfig;
import org.prefixshare.data.TruncationConfig;
import org.prefixshare.layout.SharedLayoutBuilder;
import org.prefixshare.pack.DatasetStats;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.cli.DatasetOptions;
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

    @CommandLine.Mixin
    DatasetOptions data;

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

    @Option(names = "--json", description = "End with one line holding a JSON object of the statistics.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (data.input == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--input'");
        }
        Path input = data.input;
        TextTokenizer tok = data.openTokenizer();
        try {
            // setup, not timed: one batch through the tokenizer starts its thread pool and pages in its tables
            List<String> warm = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                warm.add("Below is an instruction that describes a task. " + i);
            }
            tok.encodeBatch(warm);
            ExampleTokenizer et = data.exampleTokenizer(tok);
            ReaderOptions ro = data.readerOptions();
            PackConfig pc = PackConfig.defaults(packLength, rowsPerBatch, seed).withPacking(!noPacking)
                    .withWindowSize(window).withPrefetch(0).withPadId(tok.padId());
            DatasetStats s = DatasetStats.compute(input, ro, et, data.truncation(packLength), pc);
            out.printf("input:                %s (%s)%n", input, data.format.name().toLowerCase());
            out.printf("tokenizer:            %s%n", data.tokenizer == null ? "built-in bytes" : data.tokenizer);
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
                .open(data.input, new org.prefixshare.data.ReadCounts())) {
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
