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
 * (token, position, node, subtreeEnd, in the model's float type) and the scoring part: the N labelled positions in
 * row-major order ({@code labelIndex = row * T + t}, {@code labelToken}) and the {@code [S,N]} 0/1 matrix that sums
 * them per sequence (S = the batch's sequence table size).
 *
 * @param token      [R,T]
 * @param position   [R,T]
 * @param node       [R,T]
 * @param subtreeEnd [R,T]
 * @param labelIndex [N] (model float type, integer values)
 * @param labelToken [N] (model float type, integer values)
 * @param seqMatrix  [S,N]
 */
public record DecoderFeeds(INDArray token, INDArray position, INDArray node, INDArray subtreeEnd,
                           INDArray labelIndex, INDArray labelToken, INDArray seqMatrix) {

    /** Builds the feeds; checks token ids and labels against the vocabulary and sequence indices against S. */
    public static DecoderFeeds of(LayoutBatch batch, DecoderConfig config) {
        DataType dt = config.dataType();
        int rows = batch.rows().size();
        int t = batch.length();
        int s = batch.sequences().size();
        double[][] tok = new double[rows][t];
        double[][] pos = new double[rows][t];
        double[][] nd = new double[rows][t];
        double[][] se = new double[rows][t];
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
        if (dt != DataType.DOUBLE && (long) rows * t > (1L << 24)) {
            throw new IllegalArgumentException("a " + dt + " batch of " + rows + " x " + t + " tokens has flat indices"
                    + " above 2^24, which float32 cannot hold exactly; use fewer rows per batch");
        }
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
        return new DecoderFeeds(Nd4j.createFromArray(tok).castTo(dt), Nd4j.createFromArray(pos).castTo(dt),
                Nd4j.createFromArray(nd).castTo(dt), Nd4j.createFromArray(se).castTo(dt),
                Nd4j.createFromArray(labelIndex).castTo(dt), Nd4j.createFromArray(labelToken).castTo(dt),
                Nd4j.createFromArray(member).castTo(dt));
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
