package org.prefixshare.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.loss.PairIndex;

import java.util.HashMap;
import java.util.Map;

/**
 * The labels array of {@link DpoOutputLayer}: everything the DPO loss needs about a batch, packed into the one float
 * array {@code [B, K, T]} that DL4J's {@code SameDiffOutputLayer} accepts (it has no label mask and no second labels
 * array). Channels ({@code K = }{@value #CHANNELS}):
 * <ul>
 *   <li>{@value #LABEL} {@code label}: per token, the next token of the same branch, or -1;</li>
 *   <li>{@value #SEQ} {@code seq}: per token, the index of the scored sequence the label belongs to, or -1;</li>
 *   <li>the sequence table, one entry per scored sequence s, stored at flat position {@code s} of the {@code [B,T]}
 *       grid (row {@code s / T}, column {@code s % T}; a batch holds at most B*T sequences, and never more since each
 *       has at least one labelled token): {@value #SEQ_VALID} {@code valid} (1 for s &lt; S, else 0),
 *       {@value #EXAMPLE} {@code example} (the example's ordinal within the batch, so values stay exact in float32;
 *       sequences of one example form its preference pairs), {@value #RANK} {@code rank} (0 = chosen),
 *       {@value #TOKENS} {@code tokens} (scored tokens) and {@value #REF_LOGP} {@code refLogp} (the reference
 *       log-prob, NaN when unknown);</li>
 *   <li>{@value #BCO_DELTA} {@code bcoDelta}: the BCO reward baseline at position (0, 0) (0 elsewhere; only
 *       {@code bco_pair} reads it).</li>
 * </ul>
 * {@link #pack} builds the array from a batch of {@code PreferenceBatchIterator} (labels {@code label, seq [rows,T]}
 * and table {@code [S,4]}); {@link #decode} reads it back (inside the graph, {@link DpoLabelDecode} does).
 */
public final class DpoLabels {

    /** Channel of the next-token label. */
    public static final int LABEL = 0;
    /** Channel of the sequence index of a label. */
    public static final int SEQ = 1;
    /** Channel flagging the flat positions that hold a sequence-table entry. */
    public static final int SEQ_VALID = 2;
    /** Channel of the sequence's example ordinal (within the batch). */
    public static final int EXAMPLE = 3;
    /** Channel of the sequence's rank (0 = chosen). */
    public static final int RANK = 4;
    /** Channel of the sequence's scored-token count. */
    public static final int TOKENS = 5;
    /** Channel of the sequence's reference log-prob (NaN when unknown). */
    public static final int REF_LOGP = 6;
    /** Channel of the BCO baseline, read at position (0, 0). */
    public static final int BCO_DELTA = 7;
    /** K, the number of channels. */
    public static final int CHANNELS = 8;

    private DpoLabels() {
    }

    /**
     * Packs a batch of {@code PreferenceBatchIterator}.
     *
     * @param label     [rows,T] next-token labels (-1 = none)
     * @param seq       [rows,T] sequence index per label (-1 = none)
     * @param table     [S,4] exampleId, rank, tokenCount, refLogp
     * @param bcoDelta  the BCO baseline (0 when unused)
     * @param dt        the network's float type
     */
    public static INDArray pack(INDArray label, INDArray seq, INDArray table, double bcoDelta, DataType dt) {
        int rows = (int) label.size(0);
        int t = (int) label.size(1);
        int s = (int) table.size(0);
        if (s > (long) rows * t) {
            throw new IllegalArgumentException("DpoLabels: " + s + " sequences do not fit the " + rows + " x " + t
                    + " positions of the sequence-table channels");
        }
        double[] lab = label.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] sq = seq.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[][] tab = s == 0 ? new double[0][4] : table.castTo(DataType.DOUBLE).toDoubleMatrix();
        long[] ids = new long[s];
        int[] ranks = new int[s];
        int[] tokens = new int[s];
        double[] refs = new double[s];
        for (int i = 0; i < s; i++) {
            ids[i] = (long) tab[i][0];
            ranks[i] = (int) tab[i][1];
            tokens[i] = (int) tab[i][2];
            refs[i] = tab[i][3];
        }
        return build(rows, t, lab, sq, ids, ranks, tokens, refs, bcoDelta, dt);
    }

    /** Packs a {@link LayoutBatch} directly. */
    public static INDArray pack(LayoutBatch b, double bcoDelta, DataType dt) {
        int rows = b.rows().size();
        int t = b.length();
        double[] lab = new double[rows * t];
        double[] sq = new double[rows * t];
        for (int r = 0; r < rows; r++) {
            RowLayout row = b.rows().get(r);
            for (int i = 0; i < t; i++) {
                lab[r * t + i] = row.label(i);
                sq[r * t + i] = row.seq(i);
            }
        }
        int s = b.sequences().size();
        long[] ids = new long[s];
        int[] ranks = new int[s];
        int[] tokens = new int[s];
        double[] refs = new double[s];
        for (int i = 0; i < s; i++) {
            SequenceInfo si = b.sequences().get(i);
            ids[i] = si.exampleId();
            ranks[i] = si.rank();
            tokens[i] = si.tokenCount();
            refs[i] = si.refLogp();
        }
        if (s > (long) rows * t) {
            throw new IllegalArgumentException("DpoLabels: " + s + " sequences do not fit " + rows + " x " + t);
        }
        return build(rows, t, lab, sq, ids, ranks, tokens, refs, bcoDelta, dt);
    }

    private static INDArray build(int rows, int t, double[] lab, double[] sq, long[] ids, int[] ranks, int[] tokens,
                                  double[] refs, double bcoDelta, DataType dt) {
        double[] out = new double[rows * CHANNELS * t];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < t; i++) {
                out[(r * CHANNELS + LABEL) * t + i] = lab[r * t + i];
                out[(r * CHANNELS + SEQ) * t + i] = sq[r * t + i];
            }
        }
        Map<Long, Integer> ordinal = new HashMap<>();
        for (int s = 0; s < ids.length; s++) {
            int r = s / t;
            int i = s % t;
            out[(r * CHANNELS + SEQ_VALID) * t + i] = 1.0;
            out[(r * CHANNELS + EXAMPLE) * t + i] = ordinal.computeIfAbsent(ids[s], k -> ordinal.size());
            out[(r * CHANNELS + RANK) * t + i] = ranks[s];
            out[(r * CHANNELS + TOKENS) * t + i] = tokens[s];
            out[(r * CHANNELS + REF_LOGP) * t + i] = refs[s];
        }
        out[BCO_DELTA * t] = bcoDelta;
        return Nd4j.createFromArray(out).reshape('c', rows, CHANNELS, t).castTo(dt);
    }

    /** Number of scored sequences S in a packed labels array (its sequence table's entries). */
    public static int numSequences(INDArray labels) {
        checkShape(labels);
        INDArray valid = labels.get(NDArrayIndex.all(), NDArrayIndex.point(SEQ_VALID), NDArrayIndex.all())
                .castTo(DataType.DOUBLE).dup('c');
        double[] v = valid.data().asDouble();
        int s = 0;
        while (s < v.length && v[s] == 1.0) {
            s++;
        }
        return s;
    }

    /**
     * A copy of a packed labels array with the reference log-probs {@code logps} [S] (any float type) in the
     * {@value #REF_LOGP} channel; null writes zeros (a pass that does not read them, e.g. the reference's own).
     */
    public static INDArray withReferenceLogps(INDArray labels, INDArray logps) {
        int s = numSequences(labels);
        if (logps != null && logps.length() != s) {
            throw new IllegalArgumentException("DpoLabels: " + logps.length() + " reference log-probs for a batch of "
                    + s + " sequences");
        }
        INDArray out = labels.dup('c');
        int t = (int) labels.size(2);
        for (int j = 0; j < s; j++) {
            out.putScalar(new long[]{j / t, REF_LOGP, j % t}, logps == null ? 0.0 : logps.getDouble(j));
        }
        return out;
    }

    private static void checkShape(INDArray labels) {
        if (labels.rank() != 3 || labels.size(1) != CHANNELS) {
            throw new IllegalArgumentException("DpoOutputLayer: labels must be [B, " + CHANNELS + ", T] (DpoLabels), "
                    + "got " + java.util.Arrays.toString(labels.shape()));
        }
    }

    /**
     * A decoded labels array: the N labelled positions (flat index {@code b*T + t} into the {@code [B*T, H]} rows,
     * row-major), their labels, the {@code [S,N]} membership matrix, the pairs and the per-sequence vectors.
     */
    public record Decoded(int[] labelIndex, int[] labelToken, int[] labelSeq, int numSequences, int[] example,
                          int[] rank, double[] tokens, double[] refLogp, PairIndex pairs, double bcoDelta) {
        /** Number of labelled positions N. */
        public int labels() {
            return labelIndex.length;
        }
    }

    /** Reads a packed labels array back; checks what the graph relies on (vocabulary when {@code vocab > 0}). */
    public static Decoded decode(INDArray labels, int vocab) {
        checkShape(labels);
        int rows = (int) labels.size(0);
        int t = (int) labels.size(2);
        double[] a = labels.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        int s = 0;
        while (s < rows * t && a[((s / t) * CHANNELS + SEQ_VALID) * t + s % t] == 1.0) {
            s++;
        }
        for (int j = s + 1; j < rows * t; j++) {
            if (a[((j / t) * CHANNELS + SEQ_VALID) * t + j % t] == 1.0) {
                throw new IllegalArgumentException("DpoOutputLayer: the labels' sequence table is not contiguous (entry "
                        + j + " after a gap at " + s + "): two DpoLabels arrays were concatenated or one was split "
                        + "(DL4J merges and splits minibatches to a batch size, e.g. Spark's batchSizePerWorker): "
                        + "give every minibatch exactly that many rows");
            }
        }
        int n = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < t; i++) {
                if (a[(r * CHANNELS + LABEL) * t + i] >= 0 && a[(r * CHANNELS + SEQ) * t + i] >= 0) {
                    n++;
                }
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("DpoOutputLayer: the batch has no labelled positions (" + rows + " rows"
                    + " of " + t + " tokens): nothing to score");
        }
        int[] idx = new int[n];
        int[] tok = new int[n];
        int[] seqOf = new int[n];
        int at = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < t; i++) {
                double l = a[(r * CHANNELS + LABEL) * t + i];
                double q = a[(r * CHANNELS + SEQ) * t + i];
                if (l < 0 || q < 0) {
                    continue;
                }
                if (q >= s) {
                    throw new IllegalArgumentException("DpoOutputLayer: row " + r + " token " + i + " refers to "
                            + "sequence " + (int) q + " but the labels' sequence table has " + s);
                }
                if (vocab > 0 && l >= vocab) {
                    throw new IllegalArgumentException("DpoOutputLayer: row " + r + " token " + i + " has label "
                            + (int) l + " outside the vocabulary [0, " + vocab + ")");
                }
                idx[at] = r * t + i;
                tok[at] = (int) l;
                seqOf[at] = (int) q;
                at++;
            }
        }
        int[] ex = new int[s];
        int[] rk = new int[s];
        double[] tk = new double[s];
        double[] ref = new double[s];
        for (int j = 0; j < s; j++) {
            int base = (j / t) * CHANNELS * t + j % t;
            ex[j] = (int) a[base + EXAMPLE * t];
            rk[j] = (int) a[base + RANK * t];
            tk[j] = a[base + TOKENS * t];
            ref[j] = a[base + REF_LOGP * t];
        }
        PairIndex pairs = PairIndex.fromSequenceTable(ex, rk);
        return new Decoded(idx, tok, seqOf, s, ex, rk, tk, ref, pairs, a[BCO_DELTA * t]);
    }
}
