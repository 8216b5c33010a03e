package org.prefixshare.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.RepartitionStrategy;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DpoOutputLayer;
import org.prefixshare.layers.DpoOutputLayerImpl;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Data-parallel DPO training of a prefixshare {@link ComputationGraph} (built with {@code DecoderBlock}s and a
 * {@link DpoOutputLayer}) on Apache Spark with DL4J's {@link SparkComputationGraph} and parameter averaging.
 *
 * <p>{@link #batches} turns an RDD of tokenised preference examples into packed prefix-shared batches where the
 * partitions live: every executor registers prefixshare's ops itself, precomputes its partition's reference
 * log-probs with its own copy of the frozen initial graph (broadcast once; standard DPO only) and packs its examples
 * into batches of exactly {@code rowsPerBatch} rows of {@code packLength} tokens. {@link #fitEpoch} runs one pass of
 * {@link ParameterAveragingTrainingMaster} over them: each round, every worker trains {@code averagingFrequency}
 * minibatches from the current parameters, then parameters and Adam state are averaged on the driver; the round's
 * loss (the workers' mean) is recorded and reported.
 *
 * <pre>{@code
 * SparkDpoTraining spark = SparkDpoTraining.builder(sc, graph).pack(PackConfig.defaults(256, 2, seed))
 *         .workers(2).averagingFrequency(2).build();
 * JavaRDD<MultiDataSet> batches = spark.batches(sc.parallelize(examples, 2));
 * for (int e = 0; e < epochs; e++) { spark.fitEpoch(batches); }
 * ComputationGraph trained = spark.network();
 * }</pre>
 */
public final class SparkDpoTraining {

    private final JavaSparkContext sc;
    private final SparkComputationGraph sparkGraph;
    private final PackConfig pack;
    private final Broadcast<GraphSnapshot> reference;
    private final List<Double> roundLosses = new ArrayList<>();
    private final RoundListener listener;

    /** Called on the driver after each averaging round. */
    @FunctionalInterface
    public interface RoundListener {
        void roundDone(int round, double loss);
    }

    private SparkDpoTraining(Builder b) {
        PrefixShareOps.init();
        this.sc = b.sc;
        this.pack = b.pack;
        this.listener = b.listener;
        LossConfig loss = lossOf(b.graph);
        // the reference of standard DPO: the initial weights, frozen before any round
        this.reference = loss.needsReference() ? sc.broadcast(new GraphSnapshot(b.graph)) : null;
        ParameterAveragingTrainingMaster.Builder tm = new ParameterAveragingTrainingMaster.Builder(b.workers,
                pack.rowsPerBatch())
                .batchSizePerWorker(pack.rowsPerBatch())
                .averagingFrequency(b.averagingFrequency)
                .workerPrefetchNumBatches(0)
                .saveUpdater(true)
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .repartionData(Repartition.Always)
                .repartitionStrategy(RepartitionStrategy.Balanced)
                .storageLevel(StorageLevel.MEMORY_ONLY())
                .rngSeed(b.seed);
        this.sparkGraph = new SparkComputationGraph(sc, b.graph,
                new RoundReportingTrainingMaster(tm, this::roundDone));
    }

    private static LossConfig lossOf(ComputationGraph graph) {
        for (Layer l : graph.getLayers()) {
            if (l instanceof DpoOutputLayerImpl d) {
                return ((DpoOutputLayer) d.getConfig()).lossConfig();
            }
        }
        throw new IllegalArgumentException("SparkDpoTraining: the graph has no DpoOutputLayer");
    }

    private void roundDone(double loss) {
        roundLosses.add(loss);
        if (listener != null) {
            listener.roundDone(roundLosses.size(), loss);
        }
    }

    /**
     * Packed prefix-shared batches ({@code DpoGraphIterator}'s format) of {@code examples}, built on the executors
     * per partition (with the partition's reference log-probs when the loss needs them), kept in memory.
     */
    public JavaRDD<MultiDataSet> batches(JavaRDD<TokenizedExample> examples) {
        DataType dt = sparkGraph.getNetwork().params().dataType();
        return examples.mapPartitions(new PartitionBatches(reference, pack, dt)).persist(StorageLevel.MEMORY_ONLY());
    }

    /** One pass of parameter-averaging training over {@code batches}; returns this pass's round losses. */
    public List<Double> fitEpoch(JavaRDD<MultiDataSet> batches) {
        int before = roundLosses.size();
        sparkGraph.fitMultiDataSet(batches);
        return new ArrayList<>(roundLosses.subList(before, roundLosses.size()));
    }

    /** The driver's copy of the network (the averaged parameters after each round). */
    public ComputationGraph network() {
        return sparkGraph.getNetwork();
    }

    /** DL4J's Spark wrapper, for anything else it offers (e.g. distributed scoring). */
    public SparkComputationGraph sparkGraph() {
        return sparkGraph;
    }

    /** Every round's loss so far. */
    public List<Double> roundLosses() {
        return new ArrayList<>(roundLosses);
    }

    /** Releases the broadcast reference. */
    public void close() {
        if (reference != null) {
            reference.destroy();
        }
    }

    public static Builder builder(JavaSparkContext sc, ComputationGraph graph) {
        return new Builder(sc, graph);
    }

    /** Builder: the packing, workers, averaging frequency and seed. */
    public static final class Builder {
        private final JavaSparkContext sc;
        private final ComputationGraph graph;
        private PackConfig pack;
        private int workers;
        private int averagingFrequency = 1;
        private long seed = 1;
        private RoundListener listener;

        private Builder(JavaSparkContext sc, ComputationGraph graph) {
            this.sc = sc;
            this.graph = graph;
            this.workers = sc.defaultParallelism();
        }

        /** Packing of each partition (packLength = the graph's row length; rowsPerBatch = each worker's minibatch). */
        public Builder pack(PackConfig p) {
            this.pack = p;
            return this;
        }

        /** Workers (default: the context's default parallelism, N of local[N]). */
        public Builder workers(int n) {
            this.workers = n;
            return this;
        }

        /** Minibatches each worker trains between two averagings (default 1). */
        public Builder averagingFrequency(int f) {
            this.averagingFrequency = f;
            return this;
        }

        /** Seed of the random assignment of batches to rounds. */
        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        /** Called on the driver after each round with its loss. */
        public Builder listener(RoundListener l) {
            this.listener = l;
            return this;
        }

        public SparkDpoTraining build() {
            if (pack == null) {
                throw new IllegalArgumentException("SparkDpoTraining: pack(PackConfig) is required");
            }
            if (workers < 1 || averagingFrequency < 1) {
                throw new IllegalArgumentException("SparkDpoTraining: need workers >= 1 and averagingFrequency >= 1, "
                        + "got " + workers + " and " + averagingFrequency);
            }
            return new SparkDpoTraining(this);
        }
    }
}
