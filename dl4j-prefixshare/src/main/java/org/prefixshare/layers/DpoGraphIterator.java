package org.prefixshare.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

import java.util.function.DoubleSupplier;

/**
 * Adapts a {@link org.prefixshare.pack.PreferenceBatchIterator} (or any iterator of its format: features
 * {@code token, position, node, subtreeEnd [rows,T]}, labels {@code label, seq [rows,T]} and the table
 * {@code [S,4]}) to a {@code ComputationGraph} built with {@link DpoOutputLayer}: the four features become the four
 * graph inputs (cast to the network's float type) and the labels become the one packed {@link DpoLabels} array.
 * Works with {@code graph.fit(iterator)}, DL4J's {@code AsyncMultiDataSetIterator} and {@code ParallelWrapper}.
 *
 * <p>{@link #asPreProcessor} gives the same conversion as a {@link MultiDataSetPreProcessor}, to set on the source
 * iterator itself.
 */
public class DpoGraphIterator implements MultiDataSetIterator {

    private static final long serialVersionUID = 1L;

    private final MultiDataSetIterator source;
    private final DataType dataType;
    private final DoubleSupplier bcoDelta;
    private MultiDataSetPreProcessor preProcessor;

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
    }

    public DpoGraphIterator(MultiDataSetIterator source, DataType dataType) {
        this(source, dataType, null);
    }

    /** Converts one batch of the source format (in place) and returns it. */
    public static MultiDataSet convert(MultiDataSet ds, DataType dt, double bcoDelta) {
        INDArray[] f = ds.getFeatures();
        INDArray[] l = ds.getLabels();
        if (f.length != 4 || l.length != 3) {
            throw new IllegalArgumentException("DpoGraphIterator: expected 4 features (token, position, node, "
                    + "subtreeEnd) and 3 labels (label, seq, table) as PreferenceBatchIterator gives, got "
                    + f.length + " and " + l.length);
        }
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

    /** The conversion as a preprocessor for the source iterator. */
    public static MultiDataSetPreProcessor asPreProcessor(DataType dt) {
        return ds -> convert(ds, dt, 0.0);
    }

    @Override
    public MultiDataSet next() {
        MultiDataSet ds = convert(source.next(), dataType, bcoDelta.getAsDouble());
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
