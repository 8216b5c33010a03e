package org.prefixshare.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.io.Progress;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Precomputed reference log-probs: one pass of the frozen model through the prefix-shared packed forward over
 * every example, stored per (example, rank). Saved as {@code reference_logps.tsv} with a fingerprint of the model
 * and data; a later run with the same fingerprint reuses the file instead of recomputing.
 */
public final class ReferenceStore implements ReferenceLogps {

    static final String FILE_NAME = "reference_logps.tsv";
    private static final Logger log = LoggerFactory.getLogger(ReferenceStore.class);
    private static final String HEADER = "# prefixshare reference log-probs v1 fingerprint=";

    /** Per-sequence log-probs [S] of a batch (in its sequence table's order) under the frozen reference model. */
    @FunctionalInterface
    public interface Scorer {
        INDArray logps(LayoutBatch batch);
    }

    private final Map<Long, double[]> byExample;

    private ReferenceStore(Map<Long, double[]> byExample) {
        this.byExample = byExample;
    }

    @Override
    public double get(long exampleId, int rank) {
        double[] r = byExample.get(exampleId);
        return r == null || rank >= r.length ? Double.NaN : r[rank];
    }

    /** Number of examples covered. */
    public int size() {
        return byExample.size();
    }

    /**
     * Reads {@code dir/reference_logps.tsv} when its fingerprint matches, else computes the log-probs with
     * {@code frozen} over {@code examples} and writes the file.
     */
    public static ReferenceStore loadOrCompute(Path dir, String fingerprint, DecoderModel frozen,
                                               List<TokenizedExample> examples, PackConfig pack) {
        return loadOrCompute(dir, fingerprint, frozen::logps, examples, pack);
    }

    /** As {@link #loadOrCompute(Path, String, DecoderModel, List, PackConfig)} with any scorer (e.g. a DL4J graph). */
    public static ReferenceStore loadOrCompute(Path dir, String fingerprint, Scorer frozen,
                                               List<TokenizedExample> examples, PackConfig pack) {
        Path file = dir.resolve(FILE_NAME);
        if (Files.isRegularFile(file)) {
            ReferenceStore stored = read(file, fingerprint);
            if (stored != null && stored.size() == examples.size()) {
                log.info("reusing reference log-probs of {} examples from {}", stored.size(), file);
                return stored;
            }
            log.info("{} was written for other data or another model: recomputing", file);
        }
        long start = System.nanoTime();
        ReferenceStore computed = compute(frozen, examples, pack);
        log.info("precomputed reference log-probs of {} examples in {} ms (one prefix-shared pass)",
                computed.size(), (System.nanoTime() - start) / 1_000_000);
        computed.write(file, fingerprint);
        return computed;
    }

    /** One forward pass of {@code frozen} over every example (no shuffling, one epoch). */
    public static ReferenceStore compute(DecoderModel frozen, List<TokenizedExample> examples, PackConfig pack) {
        return compute((Scorer) frozen::logps, examples, pack);
    }

    /** One pass of any frozen scorer over every example (no shuffling, one epoch, one shard). */
    public static ReferenceStore compute(Scorer frozen, List<TokenizedExample> examples, PackConfig pack) {
        return compute(frozen, examples, pack, new Progress("reference log-probs", 1, log::info, 30)
                .quietWhenShort());
    }

    /**
     * {@link #compute(Scorer, List, PackConfig)}, reporting to {@code progress} (its total is set to the number of
     * batches) after each batch.
     */
    public static ReferenceStore compute(Scorer frozen, List<TokenizedExample> examples, PackConfig pack,
                                         Progress progress) {
        Map<Long, double[]> m = new HashMap<>();
        for (TokenizedExample e : examples) {
            m.put(e.id(), new double[e.responseCount()]);
        }
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(examples,
                pack.withShuffle(false).withShard(0, 1))) {
            int batches = it.batchesPerEpoch();
            progress.total(batches);
            while (it.hasNext()) {
                LayoutBatch b = it.nextLayout();
                INDArray logps = frozen.logps(b);
                List<SequenceInfo> seqs = b.sequences();
                for (int s = 0; s < seqs.size(); s++) {
                    m.get(seqs.get(s).exampleId())[seqs.get(s).rank()] = logps.getDouble(s);
                }
                progress.advance(1, "batch " + (progress.done() + 1) + " of " + batches);
            }
        }
        return new ReferenceStore(m);
    }

    private void write(Path file, String fingerprint) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(FILE_NAME + ".tmp");
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                w.write(HEADER + fingerprint + "\n");
                for (Map.Entry<Long, double[]> e : byExample.entrySet()) {
                    for (int r = 0; r < e.getValue().length; r++) {
                        w.write(e.getKey() + "\t" + r + "\t" + e.getValue()[r] + "\n");
                    }
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + file, e);
        }
    }

    /** The stored values, or null when the file's fingerprint differs. */
    private static ReferenceStore read(Path file, String fingerprint) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            if (lines.isEmpty() || !lines.get(0).equals(HEADER + fingerprint)) {
                return null;
            }
            Map<Long, double[]> m = new HashMap<>();
            for (int i = 1; i < lines.size(); i++) {
                String[] f = lines.get(i).split("\t");
                if (f.length != 3) {
                    throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected 3 tab-separated fields "
                            + "(exampleId, rank, logp), got '" + lines.get(i) + "'");
                }
                long id = Long.parseLong(f[0]);
                int rank = Integer.parseInt(f[1]);
                double[] arr = m.computeIfAbsent(id, k -> new double[0]);
                if (arr.length <= rank) {
                    arr = java.util.Arrays.copyOf(arr, rank + 1);
                    m.put(id, arr);
                }
                arr[rank] = Double.parseDouble(f[2]);
            }
            return new ReferenceStore(m);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + file, e);
        }
    }
}
