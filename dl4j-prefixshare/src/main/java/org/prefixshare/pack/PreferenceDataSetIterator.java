package org.prefixshare.pack;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.prefixshare.layers.DpoGraphIterator;
import org.prefixshare.layers.DpoLabels;
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.layers.LayoutChannels;
import org.prefixshare.layout.LayoutBatch;

import java.util.List;
import java.util.function.DoubleSupplier;

/**
 * A {@link DataSetIterator} of packed prefix-shared batches for single-input networks ({@code MultiLayerNetwork}s
 * built from {@code org.prefixshare.layers}: {@code PrefixSharedEmbedding}, {@code DecoderBlockLayer}s,
 * {@code DpoOutputLayer}). One {@link DataSet} per batch of the {@link PreferenceBatchIterator}:
 * <ul>
 *   <li>features {@code [B, 4, T]}: the row layout's {@code token, position, node, subtreeEnd} as channels
 *       ({@link LayoutChannels});</li>
 *   <li>labels {@code [B, 8, T]}: the {@code DpoOutputLayer}'s packed labels ({@link DpoLabels}: next-token labels,
 *       their sequence, the sequence table with the reference log-probs, the BCO baseline);</li>
 *   <li>no masks: padding is in the layout (its own nodes, no labels).</li>
 * </ul>
 * Every batch has the same T (the source's packLength; see {@link DpoGraphIterator}, which does the conversion).
 * Reference log-probs come from the source (built with a {@link org.prefixshare.train.ReferenceStore}) or live from
 * a frozen copy of the network ({@link #liveReference}). Works with {@code net.fit(iterator)}, DL4J's
 * {@code AsyncDataSetIterator} and listeners. {@link #lastLayout()} gives the last batch's full layout.
 */
public final class PreferenceDataSetIterator implements DataSetIterator {

    private static final long serialVersionUID = 1L;

    private final PreferenceBatchIterator source;
    private final DpoGraphIterator graphForm;
    private final DataType dataType;
    private DataSetPreProcessor preProcessor;

    /**
     * @param source   the packed batches
     * @param dataType the network's float type (FLOAT to train; DOUBLE for checks)
     * @param bcoDelta the BCO baseline per batch (only {@code bco_pair} reads it); null for 0
     */
    public PreferenceDataSetIterator(PreferenceBatchIterator source, DataType dataType, DoubleSupplier bcoDelta) {
        this.source = source;
        this.dataType = dataType;
        this.graphForm = new DpoGraphIterator(source, dataType, bcoDelta);
    }

    public PreferenceDataSetIterator(PreferenceBatchIterator source, DataType dataType) {
        this(source, dataType, null);
    }

    /** Reference log-probs evaluated per batch by {@code reference} (a frozen copy made before training). */
    public PreferenceDataSetIterator liveReference(FrozenReference reference) {
        graphForm.liveReference(reference);
        return this;
    }

    /** The row length T of every batch. */
    public int rowLength() {
        return graphForm.rowLength();
    }

    /** The full layout of the batch last returned. */
    public LayoutBatch lastLayout() {
        return source.lastLayout();
    }

    /** The DataSet of one batch in the graph's form ({@link DpoGraphIterator}'s output). */
    public static DataSet toDataSet(MultiDataSet graphBatch, DataType dataType) {
        return new DataSet(LayoutChannels.stack(graphBatch.getFeatures(), dataType), graphBatch.getLabels(0));
    }

    @Override
    public DataSet next() {
        DataSet ds = toDataSet(graphForm.next(), dataType);
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public DataSet next(int num) {
        throw new UnsupportedOperationException("batch size is fixed by PackConfig.rowsPerBatch; call next()");
    }

    @Override
    public int inputColumns() {
        return LayoutChannels.FEATURES;
    }

    @Override
    public int totalOutcomes() {
        return DpoLabels.CHANNELS;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    /** False: the source prefetches by itself; wrap in DL4J's AsyncDataSetIterator explicitly if wanted. */
    @Override
    public boolean asyncSupported() {
        return false;
    }

    @Override
    public void reset() {
        source.reset();
    }

    @Override
    public int batch() {
        return source.config().rowsPerBatch();
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return null;
    }

    @Override
    public boolean hasNext() {
        return source.hasNext();
    }
}
