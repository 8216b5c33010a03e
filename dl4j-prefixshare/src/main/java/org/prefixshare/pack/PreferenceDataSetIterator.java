package org.prefixshare.pack;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;

import java.util.List;

/**
 * A {@link DataSetIterator} view of a {@link PreferenceBatchIterator} for single-input pipelines:
 * features = token ids {@code [rows, T]}, labels = next-token ids {@code [rows, T]} (0 where there is none),
 * features mask = real (non-padding) tokens, labels mask = scored tokens. Positions, nodes and the sequence table are
 * not in the DataSet; {@link #lastLayout()} gives the whole batch. Use it with one document per row (packing off,
 * or the paired format) when the consumer only knows causal attention.
 */
public final class PreferenceDataSetIterator implements DataSetIterator {

    private static final long serialVersionUID = 1L;

    private final PreferenceBatchIterator source;
    private DataSetPreProcessor preProcessor;

    public PreferenceDataSetIterator(PreferenceBatchIterator source) {
        this.source = source;
    }

    /** The full layout of the batch last returned. */
    public LayoutBatch lastLayout() {
        return source.lastLayout();
    }

    @Override
    public DataSet next() {
        LayoutBatch b = source.nextLayout();
        int rows = b.rows().size();
        int t = b.length();
        float[][] f = new float[rows][t];
        float[][] l = new float[rows][t];
        float[][] fm = new float[rows][t];
        float[][] lm = new float[rows][t];
        for (int r = 0; r < rows; r++) {
            RowLayout row = b.rows().get(r);
            for (int i = 0; i < t; i++) {
                f[r][i] = row.token(i);
                int lab = row.label(i);
                l[r][i] = Math.max(lab, 0);
                fm[r][i] = i < row.used() ? 1 : 0;
                lm[r][i] = lab >= 0 ? 1 : 0;
            }
        }
        DataSet ds = new DataSet(Nd4j.createFromArray(f), Nd4j.createFromArray(l), Nd4j.createFromArray(fm),
                Nd4j.createFromArray(lm));
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
        return 1;
    }

    @Override
    public int totalOutcomes() {
        return 1;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

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
