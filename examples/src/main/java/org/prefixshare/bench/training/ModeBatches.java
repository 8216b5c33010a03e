package org.prefixshare.bench.training;

import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.PairedLayoutBuilder;
import org.prefixshare.layout.RowAssembler;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.Segment;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.layout.SharedLayoutBuilder;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.pack.Packer;

import java.util.ArrayList;
import java.util.List;

/**
 * The batch of one optimiser step in each {@link TrainingMode}, from the same examples: every example of the step is
 * in the batch whatever the mode, so the modes differ only in layout.
 */
public final class ModeBatches {

    /**
     * Pack length meaning "each step's documents in one row", padded to a multiple of 64: the analogue of the varlen
     * packing (one flat token stream per batch, FlashAttention's {@code cu_seqlens}) behind the paper's packed
     * numbers, which pads nothing between documents.
     */
    public static final int ONE_ROW = 0;

    private ModeBatches() {
    }

    /**
     * One step's batch.
     *
     * @param examples   the step's examples
     * @param mode       the layout
     * @param packLength row length of the packed modes (at least the longest document), or {@link #ONE_ROW}
     */
    public static LayoutBatch build(List<TokenizedExample> examples, TrainingMode mode, int packLength) {
        return build(examples, mode, packLength, ReferenceLogps.NONE);
    }

    /** One step's batch, its sequence table carrying the reference log-probs of {@code references}. */
    public static LayoutBatch build(List<TokenizedExample> examples, TrainingMode mode, int packLength,
                                    ReferenceLogps references) {
        List<Segment> units = new ArrayList<>();
        for (TokenizedExample e : examples) {
            if (mode.shared()) {
                units.add(SharedLayoutBuilder.build(e));
            } else {
                units.addAll(PairedLayoutBuilder.sequences(e));
            }
        }
        List<List<Segment>> rows = new ArrayList<>();
        int t;
        if (mode.packed()) {
            int[] lengths = new int[units.size()];
            int[] order = new int[units.size()];
            int total = 0;
            for (int i = 0; i < lengths.length; i++) {
                lengths[i] = units.get(i).length();
                order[i] = i;
                total += lengths[i];
            }
            t = packLength == ONE_ROW ? roundUp(total, PackConfig.PAD_MULTIPLE) : packLength;
            for (int[] bin : Packer.firstFitDecreasing(order, 0, order.length, lengths, t)) {
                List<Segment> row = new ArrayList<>(bin.length);
                for (int i : bin) {
                    row.add(units.get(i));
                }
                rows.add(row);
            }
        } else {
            int longest = 0;
            for (Segment s : units) {
                rows.add(List.of(s));
                longest = Math.max(longest, s.length());
            }
            t = roundUp(longest, PackConfig.PAD_MULTIPLE);
        }
        List<RowLayout> out = new ArrayList<>(rows.size());
        List<SequenceInfo> seqs = new ArrayList<>();
        for (List<Segment> row : rows) {
            out.add(RowAssembler.assemble(row, t, 0, seqs.size(), seqs));
        }
        if (references != ReferenceLogps.NONE) {
            seqs.replaceAll(si -> si.withRefLogp(references.get(si.exampleId(), si.rank())));
        }
        return new LayoutBatch(out, seqs);
    }

    /** n rounded up to a multiple of m. */
    public static int roundUp(int n, int m) {
        return Math.max(m, (n + m - 1) / m * m);
    }
}
