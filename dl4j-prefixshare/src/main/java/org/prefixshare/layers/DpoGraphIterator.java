package org.prefixshare.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.pack.PreferenceBatchIterator;

import java.util.Arrays;
import java.util.function.DoubleSupplier;

/**
 * Adapts a {@link PreferenceBatchIterator} (or any iterator of its format: features
 * {@code token, position, node, subtreeEnd [rows,T]}, labels {@code label, seq [rows,T]} and the table
 * {@code [S,4]}) to a {@code ComputationGraph} built with {@link DpoOutputLayer}: the four features become the four
 * graph inputs (cast to the network's float type) and the labels become the one packed {@link DpoLabels} array.
 * Works with {@code graph.fit(iterator)}, DL4J's {@code AsyncMultiDataSetIterator} and {@code ParallelWrapper}.
 *
 * <p><b>One row length.</b> A DL4J network keeps the row length T of its first minibatch (M2.1 fixes a SameDiff
 * layer's shapes then), so every batch leaves this iterator with T = {@link #rowLength()}: the source's
 * {@code PackConfig.packLength} for a {@link PreferenceBatchIterator} (packed rows have it already; unpacked ones,
 * padded to a multiple of 64, are padded on to it), else the first batch's T or {@link #rowLength(int)}. Padding
 * tokens are nodes of their own with no label, so they change no log-prob. A longer batch is an error that says
 * which setting to change.
 *
 * <p><b>References.</b> Standard DPO's reference log-probs reach the labels either from the source (a
 * {@link PreferenceBatchIterator} built with a {@link org.prefixshare.train.ReferenceStore}, e.g. from
 * {@link FrozenReference#precompute}) or live, from a frozen copy of the network evaluated on every batch
 * ({@link #liveReference}).
 *
 * <p>{@link #asPreProcessor} gives the plain conversion as a {@link MultiDataSetPreProcessor}, to set on the source
 * iterator itself.
 */
public class DpoGraphIterator implements MultiDataSetIterator {

    private static final long serialVersionUID = 1L;

    private final MultiDataSetIterator source;
    private final DataType dataType;
    private final DoubleSupplier bcoDelta;
    private MultiDataSetPreProcessor preProcessor;
    private int rowLength;
    private int batchRows;
    private int padId;
    private FrozenReference live;
    private long batchesSeen;

    /**
     * @param source   batches in {@code PreferenceBatchIterator}'s format
     * @param dataType the network's float type (FLOAT for training; DOUBLE for checks)
     * @param bcoDelta the BCO baseline fed per batch (only {@code bco_pair} reads it), e.g. from
     *                 {@link org.prefixshare.loss.BcoRunningMean#mean()}; null for 0
     */
    public DpoGraphIterator(MultiDataSetIterator source, DataType dataType, DoubleSupplier bcoDelta) {
        this.source = source;
        this.dataType = dataType;
        this.bcoDelta = bcoDelta == null ? () -> 0.0 : bcoDelta;
        if (source instanceof PreferenceBatchIterator p) {
            this.rowLength = p.config().packLength();
            this.padId = p.config().padId();
        }
    }

    public DpoGraphIterator(MultiDataSetIterator source, DataType dataType) {
        this(source, dataType, null);
    }

    /**
     * Sets the row length T every batch is padded to (a longer batch fails). Default: the source's packLength, else
     * the first batch's T.
     */
    public DpoGraphIterator rowLength(int t) {
        if (t < 1) {
            throw new IllegalArgumentException("DpoGraphIterator: rowLength must be >= 1, got " + t);
        }
        this.rowLength = t;
        return this;
    }

    /** The row length of every batch (0 until known: no default from the source and no batch seen yet). */
    public int rowLength() {
        return rowLength;
    }

    /** Token id of padding (default: the source's PackConfig.padId, else 0). */
    public DpoGraphIterator padId(int id) {
        this.padId = id;
        return this;
    }

    /**
     * Pads every batch with empty rows (padding only, nothing scored) to exactly {@code rows} rows; a batch with
     * more fails. For consumers that merge or split minibatches to a fixed size, such as DL4J's Spark workers
     * ({@code batchSizePerWorker}): a {@link DpoLabels} array must never be merged or split. 0 (default): as given.
     */
    public DpoGraphIterator batchRows(int rows) {
        if (rows < 0) {
            throw new IllegalArgumentException("DpoGraphIterator: batchRows must be >= 0, got " + rows);
        }
        this.batchRows = rows;
        return this;
    }

    /**
     * Fills every batch's reference log-probs from {@code reference} (a frozen copy of the network, made before
     * training): the live reference. Overrides references the source attached. null: off.
     */
    public DpoGraphIterator liveReference(FrozenReference reference) {
        this.live = reference;
        return this;
    }

    /** Converts one batch of the source format (in place) and returns it. */
    public static MultiDataSet convert(MultiDataSet ds, DataType dt, double bcoDelta) {
        INDArray[] f = ds.getFeatures();
        INDArray[] l = ds.getLabels();
        checkSourceFormat(f, l);
        INDArray[] nf = new INDArray[4];
        for (int i = 0; i < 4; i++) {
            nf[i] = f[i].dataType() == dt ? f[i] : f[i].castTo(dt);
        }
        ds.setFeatures(nf);
        ds.setLabels(new INDArray[]{DpoLabels.pack(l[0], l[1], l[2], bcoDelta, dt)});
        ds.setFeaturesMaskArrays(null);
        ds.setLabelsMaskArray(null);
        return ds;
    }

    private static void checkSourceFormat(INDArray[] f, INDArray[] l) {
        if (f == null || l == null || f.length != 4 || l.length != 3) {
            throw new IllegalArgumentException("DpoGraphIterator: expected 4 features (token, position, node, "
                    + "subtreeEnd) and 3 labels (label, seq, table) as PreferenceBatchIterator gives, got "
                    + (f == null ? 0 : f.length) + " and " + (l == null ? 0 : l.length));
        }
    }

    /** The conversion as a preprocessor for the source iterator. */
    public static MultiDataSetPreProcessor asPreProcessor(DataType dt) {
        return ds -> convert(ds, dt, 0.0);
    }

    /**
     * A batch of the source format padded to {@code rows} rows of {@code length} tokens: padding tokens are nodes of
     * their own (numbered after the row's last node), at position 0, with token {@code padId} and no label, exactly
     * as {@link org.prefixshare.layout.RowAssembler} pads a row. The sequence table is unchanged.
     */
    public static MultiDataSet pad(MultiDataSet ds, int rows, int length, int padId) {
        INDArray[] f = ds.getFeatures();
        INDArray[] l = ds.getLabels();
        checkSourceFormat(f, l);
        int r0 = (int) f[0].size(0);
        int t0 = (int) f[0].size(1);
        if (r0 == rows && t0 == length) {
            return ds;
        }
        if (r0 > rows || t0 > length) {
            throw new IllegalArgumentException("cannot pad a batch of " + r0 + " rows x " + t0 + " tokens to " + rows
                    + " x " + length);
        }
        double[][] tok = grow(f[0], rows, length, padId);
        double[][] pos = grow(f[1], rows, length, 0);
        double[][] node = grow(f[2], rows, length, 0);
        double[][] sub = grow(f[3], rows, length, 0);
        for (int r = 0; r < rows; r++) {
            int from = r < r0 ? t0 : 0;
            double next = 0;
            for (int t = 0; t < from; t++) {
                next = Math.max(next, node[r][t] + 1);
            }
            for (int t = from; t < length; t++) {
                node[r][t] = next + (t - from);
                sub[r][t] = node[r][t];
            }
        }
        DataType ft = f[0].dataType();
        DataType lt = l[0].dataType();
        return new org.nd4j.linalg.dataset.MultiDataSet(
                new INDArray[]{create(tok, ft), create(pos, ft), create(node, ft), create(sub, ft)},
                new INDArray[]{create(grow(l[0], rows, length, -1), lt), create(grow(l[1], rows, length, -1), lt), l[2]});
    }

    private static double[][] grow(INDArray a, int rows, int length, double fill) {
        double[][] src = a.castTo(DataType.DOUBLE).toDoubleMatrix();
        double[][] out = new double[rows][length];
        for (int r = 0; r < rows; r++) {
            Arrays.fill(out[r], fill);
            if (r < src.length) {
                System.arraycopy(src[r], 0, out[r], 0, src[r].length);
            }
        }
        return out;
    }

    private static INDArray create(double[][] v, DataType dt) {
        return Nd4j.createFromArray(v).castTo(dt);
    }

    @Override
    public MultiDataSet next() {
        MultiDataSet ds = source.next();
        batchesSeen++;
        INDArray[] f = ds.getFeatures();
        checkSourceFormat(f, ds.getLabels());
        int t = (int) f[0].size(1);
        int rows = (int) f[0].size(0);
        if (rowLength == 0) {
            rowLength = t;
        }
        if (t > rowLength) {
            throw new IllegalArgumentException("DpoGraphIterator: batch " + batchesSeen + " has rows of T=" + t
                    + " tokens, longer than the iterator's row length T=" + rowLength + " (PackConfig.packLength, "
                    + "DpoGraphIterator.rowLength, or else the first batch's): a DL4J network keeps the row length of "
                    + "its first minibatch. Raise packLength (or rowLength), or drop longer documents (Truncator "
                    + "maxDocumentLength)");
        }
        if (batchRows > 0 && rows > batchRows) {
            throw new IllegalArgumentException("DpoGraphIterator: batch " + batchesSeen + " has " + rows
                    + " rows, more than batchRows " + batchRows + " (make PackConfig.rowsPerBatch <= batchRows)");
        }
        ds = convert(pad(ds, Math.max(rows, batchRows), rowLength, padId), dataType, bcoDelta.getAsDouble());
        if (live != null) {
            INDArray labels = ds.getLabels(0);
            ds.setLabels(new INDArray[]{DpoLabels.withReferenceLogps(labels, live.logps(ds.getFeatures(), labels))
                    .castTo(dataType)});
        }
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public MultiDataSet next(int num) {
        throw new UnsupportedOperationException("the batch size is fixed by the source iterator; call next()");
    }

    @Override
    public void setPreProcessor(MultiDataSetPreProcessor p) {
        this.preProcessor = p;
    }

    @Override
    public MultiDataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public boolean resetSupported() {
        return source.resetSupported();
    }

    /** As the source: our iterators prefetch by themselves. Wrap in AsyncMultiDataSetIterator explicitly if wanted. */
    @Override
    public boolean asyncSupported() {
        return source.asyncSupported();
    }

    @Override
    public void reset() {
        source.reset();
    }

    @Override
    public boolean hasNext() {
        return source.hasNext();
    }
}
