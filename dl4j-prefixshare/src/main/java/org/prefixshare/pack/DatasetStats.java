package org.prefixshare.pack;

import org.prefixshare.data.DropCounts;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.PreferenceExample;
import org.prefixshare.data.PreferenceReader;
import org.prefixshare.data.ReadCounts;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.TruncationConfig;
import org.prefixshare.data.Truncator;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.LayoutDecoder;
import org.prefixshare.layout.RowLayout;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * What {@code prefixshare data stats} reports: the whole pipeline (read, tokenise, truncate, pack, build rows) run
 * over one file, with the round-trip check (every sequence decoded from the packed prefix-shared rows equals the one
 * decoded from the paired rows, token by token).
 *
 * @param examples                    valid examples read
 * @param dropped                     examples dropped by reason (truncation reasons, and invalid records skipped
 *                                    with skipInvalid under their own reason)
 * @param pairedTokens                tokens in the paired format: {@code sum_r (P + L_r)}
 * @param sharedTokens                tokens in the prefix-shared format: {@code P - 1 + sum_r (1 + L_r)}
 * @param tokenRatio                  pairedTokens / sharedTokens
 * @param medianLength                median over kept examples of the total length {@code P + sum_r L_r}
 * @param medianPromptCompletionRatio median over kept examples of {@code P / mean_r L_r}
 * @param rows                        packed prefix-shared rows
 * @param packingEfficiency           real tokens / row tokens of those rows
 * @param examplesPerS                examples read per second of the whole pipeline including the round trip
 * @param roundtripOk                 the round-trip check passed
 * @param identicalResponses          examples whose responses are identical (kept; no preference signal)
 * @param boundaryMerges              responses (of all tokenised examples) hit by a tokenizer merge across the
 *                                    prompt/response boundary
 * @param promptsTruncated            prompts cut to maxPromptLength
 * @param responsesTruncated          responses cut to maxLength
 * @param firstRowVisibleFraction     visible fraction of the attention mask of the first packed row
 * @param phaseSeconds                wall seconds per phase: read, tokenize, truncate, pack_and_check
 * @param problems                    round-trip problems (first few)
 */
public record DatasetStats(long examples, Map<String, Long> dropped, long pairedTokens, long sharedTokens,
                           double tokenRatio, double medianLength, double medianPromptCompletionRatio, long rows,
                           double packingEfficiency, double examplesPerS, boolean roundtripOk,
                           long identicalResponses, long boundaryMerges, long promptsTruncated,
                           long responsesTruncated, double firstRowVisibleFraction, Map<String, Double> phaseSeconds,
                           List<String> problems) {

    /** Examples per tokenisation task (reading the next chunk overlaps tokenising this one). */
    private static final int TOKENIZE_CHUNK = 128;


    /**
     * Runs the pipeline over one file.
     *
     * @param input      the file
     * @param reader     reader options
     * @param tokenizer  example tokenizer (tokenizer, chat template, EOS)
     * @param truncation limits (its maxDocumentLength should be the pack length)
     * @param pack       packing configuration (format is forced: shared rows, checked against paired rows)
     */
    public static DatasetStats compute(Path input, ReaderOptions reader, ExampleTokenizer tokenizer,
                                       TruncationConfig truncation, PackConfig pack) {
        long t0 = System.nanoTime();
        ReadCounts rc = new ReadCounts();
        // reading (this thread) and tokenising (a second core) overlap, chunk by chunk, in file order
        ExecutorService tokenizing = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "prefixshare-tokenize");
            t.setDaemon(true);
            return t;
        });
        List<Future<List<TokenizedExample>>> parts = new ArrayList<>();
        long tRead;
        List<TokenizedExample> tok = new ArrayList<>();
        try {
            try (PreferenceReader.ExampleStream stream = new PreferenceReader(reader).open(input, rc)) {
                List<PreferenceExample> chunk = new ArrayList<>(TOKENIZE_CHUNK);
                while (stream.hasNext()) {
                    chunk.add(stream.next());
                    if (chunk.size() == TOKENIZE_CHUNK || !stream.hasNext()) {
                        List<PreferenceExample> mine = chunk;
                        parts.add(tokenizing.submit(() -> tokenizer.tokenizeAll(mine)));
                        chunk = new ArrayList<>(TOKENIZE_CHUNK);
                    }
                }
            }
            tRead = System.nanoTime();
            for (Future<List<TokenizedExample>> part : parts) {
                tok.addAll(part.get());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while tokenising " + input, e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } finally {
            tokenizing.shutdownNow();
        }
        long tTok = System.nanoTime();
        DropCounts dc = new DropCounts();
        List<TokenizedExample> kept = new Truncator(truncation, tokenizer.tokenizer().bosId()).applyAll(tok, dc);
        long tTrunc = System.nanoTime();

        long paired = 0;
        long shared = 0;
        long merges = 0;
        double[] lengths = new double[kept.size()];
        double[] ratios = new double[kept.size()];
        for (int i = 0; i < kept.size(); i++) {
            TokenizedExample e = kept.get(i);
            paired += e.pairedTokens();
            shared += e.sharedLength();
            long sumL = 0;
            for (int r = 0; r < e.responseCount(); r++) {
                sumL += e.responseLength(r);
            }
            lengths[i] = e.promptLength() + sumL;
            ratios[i] = e.promptLength() / ((double) sumL / e.responseCount());
        }

        for (TokenizedExample e : tok) {
            merges += e.boundaryMerges();
        }
        List<String> problems = new ArrayList<>();
        Side sharedSide = Side.EMPTY;
        if (!kept.isEmpty()) {
            // the two formats are built and decoded independently: the paired side on another core
            PackConfig pairedCfg = pack.withFormat(LayoutFormat.PAIRED).withPacking(false).withShard(0, 1)
                    .withPrefetch(0);
            CompletableFuture<Side> pairedFuture = CompletableFuture.supplyAsync(() -> Side.decode(kept, pairedCfg));
            sharedSide = Side.decode(kept, pack.withFormat(LayoutFormat.SHARED).withShard(0, 1).withPrefetch(0));
            Side p;
            try {
                p = pairedFuture.join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            problems.addAll(sharedSide.problems);
            problems.addAll(p.problems);
            problems.addAll(LayoutDecoder.compare(sharedSide.decoded, p.decoded, 10));
        }
        long rows = sharedSide.rows;
        long used = sharedSide.used;
        long rowTokens = sharedSide.rowTokens;
        RowLayout firstRow = sharedSide.firstRow;
        long t1 = System.nanoTime();
        double seconds = (t1 - t0) / 1e9;

        Map<String, Double> phases = new LinkedHashMap<>();
        phases.put("read", (tRead - t0) / 1e9);
        phases.put("tokenize", (tTok - tRead) / 1e9); // what tokenising still needed once reading ended
        phases.put("truncate", (tTrunc - tTok) / 1e9);
        phases.put("pack_and_check", (t1 - tTrunc) / 1e9);
        Map<String, Long> dropped = new LinkedHashMap<>(dc.dropped());
        rc.skipped().forEach((k, v) -> dropped.merge(k, v, Long::sum));
        return new DatasetStats(rc.examples(), dropped, paired, shared,
                shared == 0 ? 0 : (double) paired / shared, median(lengths), median(ratios), rows,
                rowTokens == 0 ? 0 : (double) used / rowTokens, seconds > 0 ? rc.examples() / seconds : 0,
                problems.isEmpty() && !kept.isEmpty(), rc.identicalResponses(), merges, dc.promptsTruncated(),
                dc.responsesTruncated(), firstRow == null ? 0 : firstRow.visibleFraction(), phases,
                problems.size() > 10 ? List.copyOf(problems.subList(0, 10)) : List.copyOf(problems));
    }

    /** One format's rows of the whole file, decoded: the sequences, the problems found, and row counts. */
    private record Side(Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> decoded, List<String> problems, long rows,
                        long used, long rowTokens, RowLayout firstRow) {

        static final Side EMPTY = new Side(Map.of(), List.of(), 0, 0, 0, null);

        /** Plans, builds and decodes every batch of the format {@code cfg} names. */
        static Side decode(List<TokenizedExample> kept, PackConfig cfg) {
            EpochPlan plan = EpochPlan.build(kept, cfg, 0);
            Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> decoded = new HashMap<>(kept.size() * 4);
            List<String> problems = new ArrayList<>();
            long rows = 0;
            long used = 0;
            long rowTokens = 0;
            RowLayout firstRow = null;
            for (int b = 0; b < plan.size(); b++) {
                LayoutBatch lb = plan.materialize(b, kept, cfg, ReferenceLogps.NONE);
                rows += lb.rows().size();
                used += lb.usedTokens();
                rowTokens += lb.rowTokens();
                if (firstRow == null) {
                    firstRow = lb.rows().get(0);
                }
                problems.addAll(LayoutDecoder.decode(lb, decoded));
            }
            return new Side(decoded, problems, rows, used, rowTokens, firstRow);
        }
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return 0;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** The JSON fields of {@code data stats --json}, in order (the fields first, then extras). */
    public Map<String, Object> toJsonMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("examples", examples);
        m.put("dropped", dropped);
        m.put("paired_tokens", pairedTokens);
        m.put("shared_tokens", sharedTokens);
        m.put("token_ratio", tokenRatio);
        m.put("median_length", medianLength);
        m.put("median_prompt_completion_ratio", medianPromptCompletionRatio);
        m.put("rows", rows);
        m.put("packing_efficiency", packingEfficiency);
        m.put("examples_per_s", examplesPerS);
        m.put("roundtrip_ok", roundtripOk);
        m.put("identical_responses", identicalResponses);
        m.put("boundary_merges", boundaryMerges);
        m.put("prompts_truncated", promptsTruncated);
        m.put("responses_truncated", responsesTruncated);
        m.put("first_row_visible_fraction", firstRowVisibleFraction);
        m.put("phase_seconds", phaseSeconds);
        return m;
    }
}
