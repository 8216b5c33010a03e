package org.prefixshare.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The placeholder arrays of {@link DecoderModel} for one {@link LayoutBatch}: the per-token rows {@code [R,T]}
 * (token, position, node, subtreeEnd) and the scoring part: the N labelled positions in row-major order
 * ({@code labelIndex = row * T + t}, {@code labelToken}) and the {@code [S,N]} 0/1 matrix that sums them per sequence
 * (S = the batch's sequence table size). Ids, positions, layout and label indices are {@link #INDEX_TYPE} whatever
 * the model's type: a bfloat16 holds integers exactly only up to 256, a float16 up to 2048.
 *
 * @param token      [R,T] INT32
 * @param position   [R,T] INT32
 * @param node       [R,T] INT32
 * @param subtreeEnd [R,T] INT32
 * @param labelIndex [N] INT32
 * @param labelToken [N] INT32
 * @param seqMatrix  [S,N] of {@link #sumType}
 */
public record DecoderFeeds(INDArray token, INDArray position, INDArray node, INDArray subtreeEnd,
                           INDArray labelIndex, INDArray labelToken, INDArray seqMatrix) {

    /** The type of every integer-valued feed. */
    public static final DataType INDEX_TYPE = DataType.INT32;

    /** The type the per-sequence log-prob sums are taken in: DOUBLE for a DOUBLE model, else FLOAT. */
    public static DataType sumType(DataType modelType) {
        return modelType == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
    }

    /**
     * Builds the feeds; checks token ids and labels against the vocabulary, sequence indices against S, and positions
     * against the model's sliding window (a sequence longer than the window would need the window in the mask).
     */
    public static DecoderFeeds of(LayoutBatch batch, DecoderConfig config) {
        int rows = batch.rows().size();
        int t = batch.length();
        int s = batch.sequences().size();
        int[][] tok = new int[rows][t];
        int[][] pos = new int[rows][t];
        int[][] nd = new int[rows][t];
        int[][] se = new int[rows][t];
        int n = 0;
        for (RowLayout r : batch.rows()) {
            for (int i = 0; i < t; i++) {
                if (r.label(i) >= 0 && r.seq(i) >= 0) {
                    n++;
                }
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("the batch has no labelled positions (" + rows + " rows of " + t
                    + " tokens): nothing to score");
        }
        int[] labelIndex = new int[n];
        int[] labelToken = new int[n];
        double[][] member = new double[s][n];
        if ((long) rows * t > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a batch of " + rows + " x " + t + " tokens has flat indices above "
                    + "2^31; use fewer rows per batch");
        }
        int window = config.slidingWindow();
        int at = 0;
        for (int b = 0; b < rows; b++) {
            RowLayout r = batch.rows().get(b);
            for (int i = 0; i < t; i++) {
                int id = r.token(i);
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException("row " + b + " token " + i + " has id " + id
                            + " outside the vocabulary [0, " + config.vocabSize() + ")");
                }
                tok[b][i] = id;
                pos[b][i] = r.position(i);
                if (window > 0 && r.position(i) >= window) {
                    throw new IllegalArgumentException("row " + b + " token " + i + " is at position " + r.position(i)
                            + ", beyond the model's sliding_window of " + window + " tokens; sequences (prompt + "
                            + "response) must be at most " + window + " tokens: lower --max-length");
                }
                nd[b][i] = r.node(i);
                se[b][i] = r.subtreeEnd(i);
                int label = r.label(i);
                int seq = r.seq(i);
                if (label < 0 || seq < 0) {
                    continue;
                }
                if (label >= config.vocabSize()) {
                    throw new IllegalArgumentException("row " + b + " token " + i + " has label " + label
                            + " outside the vocabulary [0, " + config.vocabSize() + ")");
                }
                if (seq >= s) {
                    throw new IllegalArgumentException("row " + b + " token " + i + " refers to sequence " + seq
                            + " but the batch's sequence table has " + s);
                }
                labelIndex[at] = b * t + i;
                labelToken[at] = label;
                member[seq][at] = 1.0;
                at++;
            }
        }
        return new DecoderFeeds(Nd4j.createFromArray(tok), Nd4j.createFromArray(pos), Nd4j.createFromArray(nd),
                Nd4j.createFromArray(se), Nd4j.createFromArray(labelIndex), Nd4j.createFromArray(labelToken),
                Nd4j.createFromArray(member).castTo(sumType(config.dataType())));
    }

    /** Number of labelled positions N. */
    public int labels() {
        return (int) labelIndex.length();
    }

    /** Placeholder name to array. */
    public Map<String, INDArray> asMap() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put(DecoderModel.TOKEN, token);
        m.put(DecoderModel.POSITION, position);
        m.put(DecoderModel.NODE, node);
        m.put(DecoderModel.SUBTREE_END, subtreeEnd);
        m.put(DecoderModel.LABEL_INDEX, labelIndex);
        m.put(DecoderModel.LABEL_TOKEN, labelToken);
        m.put(DecoderModel.SEQ_MATRIX, seqMatrix);
        return m;
    }
}
