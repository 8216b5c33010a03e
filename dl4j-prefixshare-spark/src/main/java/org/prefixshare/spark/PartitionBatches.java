package org.prefixshare.spark;

import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DpoGraphIterator;
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.LayoutFormat;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * Runs on an executor, over one partition of preference examples: registers prefixshare's ops (and its executioner
 * hook, and loads the native library) in that JVM, precomputes the partition's reference log-probs with its own copy
 * of the frozen initial graph (when the loss needs them), and packs the examples into prefix-shared batches in the
 * graph's format ({@link DpoGraphIterator}), each of exactly {@code rowsPerBatch} rows of {@code packLength} tokens
 * (DL4J's Spark workers merge and split minibatches of other sizes, which a DPO labels array must never be).
 */
final class PartitionBatches implements FlatMapFunction<Iterator<TokenizedExample>, MultiDataSet> {

    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(PartitionBatches.class);

    private final Broadcast<GraphSnapshot> reference;
    private final DataType dataType;
    // PackConfig is a record (not Serializable): its fields travel one by one
    private final LayoutFormat format;
    private final int packLength;
    private final int rowsPerBatch;
    private final boolean packing;
    private final int windowSize;
    private final boolean shuffle;
    private final long seed;
    private final int padId;

    /**
     * @param reference the frozen initial graph, or null when the loss needs no reference
     * @param pack      packing of each partition (its shard and prefetch settings are not used)
     * @param dataType  the network's float type
     */
    PartitionBatches(Broadcast<GraphSnapshot> reference, PackConfig pack, DataType dataType) {
        this.reference = reference;
        this.dataType = dataType;
        this.format = pack.format();
        this.packLength = pack.packLength();
        this.rowsPerBatch = pack.rowsPerBatch();
        this.packing = pack.packing();
        this.windowSize = pack.windowSize();
        this.shuffle = pack.shuffle();
        this.seed = pack.seed();
        this.padId = pack.padId();
    }

    private PackConfig pack() {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, shuffle, seed, 0, 1, 0, padId);
    }

    @Override
    public Iterator<MultiDataSet> call(Iterator<TokenizedExample> partition) {
        PrefixShareOps.init();
        List<TokenizedExample> examples = new ArrayList<>();
        partition.forEachRemaining(examples::add);
        if (examples.isEmpty()) {
            return Collections.emptyIterator();
        }
        PackConfig pc = pack();
        ReferenceLogps refs = ReferenceLogps.NONE;
        if (reference != null) {
            long t0 = System.nanoTime();
            refs = FrozenReference.copyOf(reference.value().build()).precompute(examples, pc);
            log.info("reference log-probs of {} examples of this partition in {} ms", examples.size(),
                    (System.nanoTime() - t0) / 1_000_000);
        }
        List<MultiDataSet> out = new ArrayList<>();
        try (PreferenceBatchIterator source = new PreferenceBatchIterator(examples, pc, refs)) {
            DpoGraphIterator batches = new DpoGraphIterator(source, dataType).batchRows(rowsPerBatch);
            while (batches.hasNext()) {
                out.add(batches.next());
            }
        }
        return out.iterator();
    }
}
