package org.prefixshare.pack;

import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.PairedLayoutBuilder;
import org.prefixshare.layout.RowAssembler;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.Segment;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.layout.SharedLayoutBuilder;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The deterministic batch plan of one epoch over tokenised examples: which documents go into which row of which
 * batch. Only lengths are looked at when planning; rows are built on demand by {@link #materialize}.
 *
 * <p>Order: document order is shuffled with {@code Random(seed, epoch)}; documents are taken in windows of
 * {@code windowSize}; with packing each window is packed first-fit-decreasing into rows of {@code packLength} and
 * its rows are shuffled; rows are grouped into batches of {@code rowsPerBatch}. Without packing each document is one
 * row (paired format: one row per response, the rows of one example kept in one batch). All scored sequences of an
 * example always land in one batch (DPO needs them together). Sharding: batch b belongs to shard
 * {@code b % worldSize}.
 */
public final class EpochPlan {

    /**
     * One planned row.
     *
     * @param docs  example indices placed in this row, in order
     * @param part  -1: the whole document of each example; r >= 0: only paired sequence r of the single example
     */
    public record PlannedRow(int[] docs, int part) {
    }

    private final List<List<PlannedRow>> batches;
    private final int epoch;

    private EpochPlan(List<List<PlannedRow>> batches, int epoch) {
        this.batches = batches;
        this.epoch = epoch;
    }

    /** Length of example i's unit in the configured format. */
    static int unitLength(TokenizedExample e, PackConfig c) {
        if (c.format() == LayoutFormat.SHARED) {
            return e.sharedLength();
        }
        return (int) e.pairedTokens();
    }

    /** Plans one epoch; the plan holds this shard's batches only. */
    public static EpochPlan build(List<TokenizedExample> examples, PackConfig c, int epoch) {
        int n = examples.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Random rng = new Random(c.seed() * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + 1);
        if (c.shuffle()) {
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            lengths[i] = unitLength(examples.get(i), c);
            if (c.packing() && lengths[i] > c.packLength()) {
                throw new IllegalArgumentException("example " + examples.get(i).id() + " needs " + lengths[i]
                        + " tokens in " + c.format() + " format, more than packLength " + c.packLength()
                        + "; drop it first (Truncator with maxDocumentLength)");
            }
        }
        int w = c.windowSize() == 0 ? Math.max(n, 1) : c.windowSize();
        // groups of rows that must share a batch
        List<List<PlannedRow>> groups = new ArrayList<>();
        for (int from = 0; from < n; from += w) {
            int to = Math.min(n, from + w);
            if (c.packing()) {
                List<int[]> bins = Packer.firstFitDecreasing(order, from, to, lengths, c.packLength());
                if (c.shuffle()) {
                    Collections.shuffle(bins, rng);
                }
                for (int[] b : bins) {
                    groups.add(List.of(new PlannedRow(b, -1)));
                }
            } else {
                for (int i = from; i < to; i++) {
                    int d = order[i];
                    if (c.format() == LayoutFormat.SHARED) {
                        groups.add(List.of(new PlannedRow(new int[]{d}, -1)));
                    } else {
                        List<PlannedRow> g = new ArrayList<>();
                        for (int r = 0; r < examples.get(d).responseCount(); r++) {
                            g.add(new PlannedRow(new int[]{d}, r));
                        }
                        groups.add(g);
                    }
                }
            }
        }
        List<List<PlannedRow>> all = new ArrayList<>();
        List<PlannedRow> cur = new ArrayList<>();
        for (List<PlannedRow> g : groups) {
            if (!cur.isEmpty() && cur.size() + g.size() > c.rowsPerBatch()) {
                all.add(cur);
                cur = new ArrayList<>();
            }
            cur.addAll(g);
        }
        if (!cur.isEmpty()) {
            all.add(cur);
        }
        List<List<PlannedRow>> mine = new ArrayList<>();
        for (int b = c.rank(); b < all.size(); b += c.worldSize()) {
            mine.add(all.get(b));
        }
        return new EpochPlan(mine, epoch);
    }

    /** Batches of this shard. */
    public int size() {
        return batches.size();
    }

    /** The epoch. */
    public int epoch() {
        return epoch;
    }

    /** Planned batch i. */
    public List<PlannedRow> batch(int i) {
        return batches.get(i);
    }

    /** Builds planned batch i. */
    public LayoutBatch materialize(int i, List<TokenizedExample> examples, PackConfig c, ReferenceLogps refs) {
        return materialize(batches.get(i), examples, c, refs);
    }

    /** Builds a planned batch: rows of packLength (packing) or of the longest row rounded up to 64. */
    public static LayoutBatch materialize(List<PlannedRow> rows, List<TokenizedExample> examples, PackConfig c,
                                          ReferenceLogps refs) {
        List<List<Segment>> segs = new ArrayList<>(rows.size());
        int longest = 0;
        for (PlannedRow r : rows) {
            List<Segment> s = new ArrayList<>(r.docs().length);
            int len = 0;
            for (int d : r.docs()) {
                TokenizedExample e = examples.get(d);
                Segment seg;
                if (c.format() == LayoutFormat.SHARED) {
                    seg = SharedLayoutBuilder.build(e);
                } else if (r.part() >= 0) {
                    seg = PairedLayoutBuilder.sequence(e, r.part());
                } else {
                    seg = PairedLayoutBuilder.packed(e);
                }
                s.add(seg);
                len += seg.length();
            }
            longest = Math.max(longest, len);
            segs.add(s);
        }
        int t = c.packing() ? c.packLength()
                : Math.max(PackConfig.PAD_MULTIPLE, (longest + PackConfig.PAD_MULTIPLE - 1)
                / PackConfig.PAD_MULTIPLE * PackConfig.PAD_MULTIPLE);
        List<RowLayout> out = new ArrayList<>(rows.size());
        List<SequenceInfo> seqs = new ArrayList<>();
        for (List<Segment> s : segs) {
            out.add(RowAssembler.assemble(s, t, c.padId(), seqs.size(), seqs));
        }
        if (refs != null && refs != ReferenceLogps.NONE) {
            for (int i = 0; i < seqs.size(); i++) {
                SequenceInfo si = seqs.get(i);
                seqs.set(i, si.withRefLogp(refs.get(si.exampleId(), si.rank())));
            }
        }
        return new LayoutBatch(out, seqs);
    }
}
