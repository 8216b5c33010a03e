package org.prefixshare.pack;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.SequenceInfo;

import java.util.ArrayDeque;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A {@link MultiDataSetIterator} of minibatches in the prefix-shared (or, with {@link LayoutFormat#PAIRED}, the
 * paired) row layout over tokenised examples.
 *
 * <p>Each {@link MultiDataSet} holds
 * <ul>
 *   <li>features: {@code token, position, node, subtreeEnd}, each {@code [rows, T]} FLOAT;</li>
 *   <li>labels: {@code label, seq}, each {@code [rows, T]} FLOAT (-1 = none), and the sequence table
 *       {@code [S, 4]} DOUBLE with columns {@code exampleId, rank, tokenCount, refLogp} (NaN when unknown; DOUBLE so
 *       example ids stay exact).</li>
 * </ul>
 * Batches follow a deterministic {@link EpochPlan}; {@link #reset()} starts the next epoch (reshuffled with the same
 * seed) once anything was consumed. {@link #state()} / {@link #restore} give a resumable cursor. With
 * {@code prefetch > 0} batches are built ahead on a daemon thread. Not thread-safe (one consumer).
 */
public class PreferenceBatchIterator implements MultiDataSetIterator, AutoCloseable {

    private static final long serialVersionUID = 1L;

    private final List<TokenizedExample> examples;
    private final PackConfig config;
    private final ReferenceLogps refs;
    private transient ExecutorService executor;
    private final transient ArrayDeque<Future<Built>> ahead = new ArrayDeque<>();
    private MultiDataSetPreProcessor preProcessor;
    private EpochPlan plan;
    private int epoch;
    private int cursor;
    private int submitted;
    private boolean started;
    private LayoutBatch last;

    private record Built(LayoutBatch layout, MultiDataSet data) {
    }

    /**
     * @param examples tokenised (and truncated) examples; ids must be unique
     * @param config   packing configuration
     * @param refs     reference log-probs for the sequence table ({@link ReferenceLogps#NONE} when none)
     */
    public PreferenceBatchIterator(List<TokenizedExample> examples, PackConfig config, ReferenceLogps refs) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("no examples to iterate over");
        }
        this.examples = List.copyOf(examples);
        this.config = config;
        this.refs = refs == null ? ReferenceLogps.NONE : refs;
        this.plan = EpochPlan.build(this.examples, config, 0);
    }

    /** The prefix-shared iterator (or paired, per {@code config.format()}) without reference log-probs. */
    public PreferenceBatchIterator(List<TokenizedExample> examples, PackConfig config) {
        this(examples, config, ReferenceLogps.NONE);
    }

    /** The paired-format iterator over the same examples (the baseline). */
    public static PreferenceBatchIterator paired(List<TokenizedExample> examples, PackConfig config,
                                                 ReferenceLogps refs) {
        return new PreferenceBatchIterator(examples, config.withFormat(LayoutFormat.PAIRED), refs);
    }

    /** The configuration. */
    public PackConfig config() {
        return config;
    }

    /** Batches in the current epoch (this shard). */
    public int batchesPerEpoch() {
        return plan.size();
    }

    /** The layout of the batch last returned by {@link #next()} or {@link #nextLayout()}. */
    public LayoutBatch lastLayout() {
        return last;
    }

    @Override
    public boolean hasNext() {
        return cursor < plan.size();
    }

    @Override
    public MultiDataSet next() {
        Built b = take(true);
        MultiDataSet ds = b.data;
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    /** The next batch as a layout (no ND4J arrays); advances the cursor like {@link #next()}. */
    public LayoutBatch nextLayout() {
        return take(false).layout;
    }

    @Override
    public MultiDataSet next(int num) {
        throw new UnsupportedOperationException("batch size is fixed by PackConfig.rowsPerBatch ("
                + config.rowsPerBatch() + "); call next()");
    }

    private Built take(boolean arrays) {
        if (!hasNext()) {
            throw new NoSuchElementException("epoch " + epoch + " has " + plan.size() + " batches; call reset()");
        }
        Built b;
        if (config.prefetch() > 0 && arrays) {
            fill();
            Future<Built> f = ahead.poll();
            try {
                b = f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a prefetched batch", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("building batch " + cursor + " of epoch " + epoch + " failed: "
                        + e.getCause(), e.getCause());
            }
        } else {
            cancelAhead();
            b = build(plan, cursor, arrays);
            submitted = cursor + 1;
        }
        cursor++;
        started = true;
        last = b.layout;
        if (config.prefetch() > 0 && arrays) {
            fill();
        }
        return b;
    }

    private void fill() {
        if (executor == null) {
            executor = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "prefixshare-prefetch");
                t.setDaemon(true);
                return t;
            });
        }
        if (submitted < cursor) {
            submitted = cursor;
        }
        final EpochPlan p = plan;
        while (ahead.size() < config.prefetch() + 1 && submitted < p.size()) {
            final int i = submitted++;
            ahead.add(executor.submit(() -> build(p, i, true)));
        }
    }

    private void cancelAhead() {
        for (Future<Built> f : ahead) {
            f.cancel(true);
        }
        for (Future<Built> f : ahead) {
            try {
                f.get();
            } catch (CancellationException | ExecutionException ignored) {
                // cancelled or failed work is discarded
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        ahead.clear();
        submitted = cursor;
    }

    private Built build(EpochPlan p, int i, boolean arrays) {
        LayoutBatch lb = p.materialize(i, examples, config, refs);
        return new Built(lb, arrays ? toMultiDataSet(lb) : null);
    }

    /** Converts a layout batch to the MultiDataSet described in the class comment. */
    public static MultiDataSet toMultiDataSet(LayoutBatch b) {
        int rows = b.rows().size();
        int t = b.length();
        float[][] tok = new float[rows][t];
        float[][] pos = new float[rows][t];
        float[][] node = new float[rows][t];
        float[][] sub = new float[rows][t];
        float[][] lab = new float[rows][t];
        float[][] seq = new float[rows][t];
        for (int r = 0; r < rows; r++) {
            RowLayout row = b.rows().get(r);
            for (int i = 0; i < t; i++) {
                tok[r][i] = row.token(i);
                pos[r][i] = row.position(i);
                node[r][i] = row.node(i);
                sub[r][i] = row.subtreeEnd(i);
                lab[r][i] = row.label(i);
                seq[r][i] = row.seq(i);
            }
        }
        List<SequenceInfo> seqs = b.sequences();
        double[][] table = new double[seqs.size()][4];
        for (int s = 0; s < seqs.size(); s++) {
            SequenceInfo si = seqs.get(s);
            table[s][0] = si.exampleId();
            table[s][1] = si.rank();
            table[s][2] = si.tokenCount();
            table[s][3] = si.refLogp();
        }
        INDArray tableArr = seqs.isEmpty() ? Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 0, 4)
                : Nd4j.createFromArray(table);
        return new org.nd4j.linalg.dataset.MultiDataSet(
                new INDArray[]{Nd4j.createFromArray(tok), Nd4j.createFromArray(pos), Nd4j.createFromArray(node),
                        Nd4j.createFromArray(sub)},
                new INDArray[]{Nd4j.createFromArray(lab), Nd4j.createFromArray(seq), tableArr});
    }

    @Override
    public void setPreProcessor(MultiDataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public MultiDataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    /** False: this iterator prefetches by itself, DL4J need not wrap it. */
    @Override
    public boolean asyncSupported() {
        return false;
    }

    /** Starts the next epoch (reshuffled) if anything was consumed in this one, else rewinds. */
    @Override
    public void reset() {
        cancelAhead();
        if (started) {
            epoch++;
            plan = EpochPlan.build(examples, config, epoch);
        }
        cursor = 0;
        submitted = 0;
        started = false;
    }

    /** The cursor, to save with a checkpoint. */
    public IteratorState state() {
        return new IteratorState(config.seed(), config.rank(), config.worldSize(), epoch, cursor, started);
    }

    /** Continues from a saved cursor (same examples and configuration). */
    public void restore(IteratorState s) {
        if (s.seed() != config.seed() || s.rank() != config.rank() || s.worldSize() != config.worldSize()) {
            throw new IllegalArgumentException("state " + s.encode() + " was saved with another seed / shard than "
                    + "this iterator's seed=" + config.seed() + ", rank=" + config.rank() + ", worldSize="
                    + config.worldSize());
        }
        cancelAhead();
        if (s.epoch() != plan.epoch()) {
            plan = EpochPlan.build(examples, config, s.epoch());
        }
        if (s.batch() < 0 || s.batch() > plan.size()) {
            throw new IllegalArgumentException("state " + s.encode() + ": batch outside [0, " + plan.size() + "]");
        }
        epoch = s.epoch();
        cursor = s.batch();
        submitted = cursor;
        started = s.started();
    }

    /** Stops the prefetch thread. */
    @Override
    public void close() {
        cancelAhead();
        if (executor != null) {
            executor.shutdownNow();
            executor = null;
        }
    }
}
