package org.prefixshare.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DecoderGraph;
import org.prefixshare.layers.DpoLabels;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.pack.PackConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Graph DPO (standard, with references) on Spark local[2] with DL4J's parameter averaging. */
class SparkDpoTrainingTest {

    private static final int VOCAB = 13;
    private static JavaSparkContext sc;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(LocalSpark.conf(2, "prefixshare-test"));
    }

    @AfterAll
    static void stopSpark() {
        if (sc != null) {
            sc.stop();
        }
    }

    private static List<TokenizedExample> examples(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TokenizedExample> ex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ex.add(EquivalenceCheck.randomExample(rnd, 500 + i, VOCAB, 5, 4, i % 4 == 1 ? 3 : 2));
        }
        return ex;
    }

    private static ComputationGraph graph(DataType dt, double lr, long seed) {
        DecoderConfig c = new DecoderConfig(VOCAB, 8, 1, 2, 1, 4, 12, 10000.0, 1e-6, false, dt);
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, LossConfig.defaults().withBeta(0.5),
                new Adam(lr), seed, "auto"));
        g.init();
        return g;
    }

    /**
     * Averaging frequency 1, two workers, one batch each: one round's parameters are the average of the two workers'
     * single steps from the same start (float64).
     */
    @Test
    void oneRoundIsTheAverageOfTheWorkersSingleSteps() {
        ComputationGraph g = graph(DataType.DOUBLE, 1e-2, 3);
        ComputationGraph start = g.clone();
        // 2 partitions of 2 examples; rows of 64 tokens hold a whole partition: one batch of 2 rows each
        PackConfig pc = PackConfig.defaults(64, 2, 1).withPrefetch(0);
        SparkDpoTraining spark = SparkDpoTraining.builder(sc, g).pack(pc).workers(2).averagingFrequency(1).build();
        JavaRDD<MultiDataSet> batches = spark.batches(sc.parallelize(examples(4, 7), 2));
        List<MultiDataSet> local = batches.collect();
        assertEquals(2, local.size(), "one batch per partition");
        for (MultiDataSet b : local) {
            assertEquals(2, b.getFeatures(0).size(0));
            double[] refs = DpoLabels.decode(b.getLabels(0), VOCAB).refLogp();
            for (double r : refs) {
                assertTrue(Double.isFinite(r) && r < 0, "reference log-prob from the executor: " + r);
            }
        }
        ComputationGraph a = start.clone();
        ComputationGraph b = start.clone();
        a.fit(local.get(0));
        b.fit(local.get(1));
        INDArray expected = a.params().add(b.params()).divi(2);

        List<Double> rounds = spark.fitEpoch(batches);
        assertEquals(1, rounds.size(), "one averaging round");
        INDArray got = spark.network().params();
        assertFalse(got.equalsWithEps(start.params(), 1e-12), "parameters did not move");
        double scale = expected.amaxNumber().doubleValue();
        double err = got.sub(expected).amaxNumber().doubleValue() / scale;
        System.out.printf("Spark round vs mean of two single steps: max rel err %.3e%n", err);
        assertTrue(err <= 1e-9, "averaged parameters differ by " + err);
        // the round's loss is the workers' mean score
        double meanScore = (start.clone().score(local.get(0)) + start.clone().score(local.get(1))) / 2;
        assertEquals(meanScore, rounds.get(0), 1e-9);
        spark.close();
    }

    @Test
    void trainingOnLocal2LowersTheLoss() {
        ComputationGraph g = graph(DataType.FLOAT, 2e-2, 5);
        PackConfig pc = PackConfig.defaults(32, 2, 2).withPrefetch(0);
        List<Double> seen = new ArrayList<>();
        SparkDpoTraining spark = SparkDpoTraining.builder(sc, g).pack(pc).workers(2).averagingFrequency(1)
                .listener((round, loss) -> seen.add(loss)).build();
        JavaRDD<MultiDataSet> batches = spark.batches(sc.parallelize(examples(40, 9), 2));
        MultiDataSet probe = batches.first();
        double before = g.score(probe);
        List<Double> first = spark.fitEpoch(batches);
        for (int epoch = 1; epoch < 4; epoch++) {
            spark.fitEpoch(batches);
        }
        double after = spark.network().score(probe);
        List<Double> all = spark.roundLosses();
        System.out.printf("Spark local[2]: %d rounds, round loss %.4f -> %.4f, probe %.4f -> %.4f%n", all.size(),
                all.get(0), all.get(all.size() - 1), before, after);
        assertEquals(all, seen, "the listener saw every round");
        assertTrue(first.size() >= 2, "rounds per epoch: " + first.size());
        assertEquals(Math.log(2), all.get(0), 1e-4, "first round: the sigmoid loss at the reference is log 2");
        assertTrue(after < before, "probe loss did not fall: " + before + " -> " + after);
        double lastMean = all.subList(all.size() - first.size(), all.size()).stream().mapToDouble(d -> d)
                .average().orElseThrow();
        assertTrue(lastMean < all.get(0), "last epoch's mean round loss " + lastMean + " vs first " + all.get(0));
        spark.close();
    }
}
