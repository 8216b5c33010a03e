package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DpoEvaluation;
import org.prefixshare.layers.DpoGraphIterator;
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.spark.LocalSpark;
import org.prefixshare.spark.SparkDpoTraining;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare example spark}: the graph of {@code example dl4j-graph} trained with DPO on Apache Spark
 * ({@code local[N]}) by DL4J's parameter averaging: the executors pack their partition of the synthetic examples and
 * precompute its reference log-probs with the frozen initial graph; the driver averages the workers' parameters every
 * round, prints each round's loss, and evaluates held-out reward accuracy at the end.
 */
@Command(name = "spark", mixinStandardHelpOptions = true,
        description = "Train the dl4j-graph example's ComputationGraph with DPO on Spark local[N] (DL4J parameter "
                + "averaging; batches packed and references precomputed on the executors), print the loss of every "
                + "averaging round and held-out reward accuracy.")
public final class ExampleSparkCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--workers", defaultValue = "2", description = "Workers: Spark local[N] when run alone, the "
            + "partitions and parameter-averaging workers under spark-submit (default ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--epochs", defaultValue = "2", description = "Passes over the training examples (default "
            + "${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--averaging-frequency", defaultValue = "4", description = "Minibatches each worker trains "
            + "between two parameter averagings (default ${DEFAULT-VALUE}).")
    int averagingFrequency;

    @Option(names = "--examples", defaultValue = "240", description = "Synthetic training examples (default "
            + "${DEFAULT-VALUE}; 60 more, with unseen phrases, are held out).")
    int count;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "1", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--loss", defaultValue = "sigmoid", description = "DPO-family loss, TRL's names; default "
            + "${DEFAULT-VALUE}.")
    String loss;

    @Option(names = "--json", description = "End with one line holding a JSON object of the results.")
    boolean json;

    /** Spark's own INFO lines (slf4j-simple, the command line's logger) drown the round losses: warnings only. */
    private static void quietSparkLogs() {
        for (String pkg : new String[]{"org.apache.spark", "org.sparkproject", "org.apache.hadoop", "io.netty",
                "org.deeplearning4j.spark"}) {
            String key = "org.slf4j.simpleLogger.log." + pkg;
            if (System.getProperty(key) == null) {
                System.setProperty(key, "warn");
            }
        }
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        PrintWriter out = cl.getOut();
        if (workers < 1 || epochs < 1 || averagingFrequency < 1 || count < 8) {
            throw new CommandLine.ParameterException(cl, "need --workers >= 1, --epochs >= 1, --averaging-frequency "
                    + ">= 1 and --examples >= 8; got " + workers + ", " + epochs + ", " + averagingFrequency + ", "
                    + count);
        }
        LossConfig lossConfig = ExampleDl4jGraphCommand.lossConfig(cl, loss);
        quietSparkLogs();
        long t0 = System.nanoTime();
        List<TokenizedExample> train = ExampleDl4jGraphCommand.syntheticExamples(count, seed);
        List<TokenizedExample> heldOut = ExampleDl4jGraphCommand.syntheticExamples(60, seed + 1_000_003);
        PackConfig pc = PackConfig.defaults(256, 2, seed).withPrefetch(0);

        ComputationGraph graph = new ComputationGraph(ExampleDl4jGraphCommand.configuration(256, lr, seed,
                lossConfig));
        graph.init();
        // the reference of the held-out evaluation: the same frozen initial weights the executors score with
        FrozenReference frozen = lossConfig.needsReference() ? FrozenReference.copyOf(graph) : null;
        ReferenceLogps heldOutRefs = frozen == null ? ReferenceLogps.NONE : frozen.precompute(heldOut, pc);

        // under spark-submit the master and the rest come from its spark.* properties; alone, local[N]
        boolean submitted = System.getProperty("spark.master") != null;
        JavaSparkContext sc = new JavaSparkContext(submitted ? new SparkConf().setAppName("prefixshare-example-spark")
                : LocalSpark.conf(workers, "prefixshare-example-spark"));
        sc.setLogLevel("WARN");
        try {
            SparkDpoTraining spark = SparkDpoTraining.builder(sc, graph).pack(pc).workers(workers)
                    .averagingFrequency(averagingFrequency).seed(seed)
                    .listener((round, l) -> {
                        out.printf(Locale.ROOT, "round %d: loss %.5f%n", round, l);
                        out.flush();
                    })
                    .build();
            JavaRDD<MultiDataSet> batches = spark.batches(sc.parallelize(train, workers));
            long n = batches.count();
            out.printf(Locale.ROOT, "Spark %s, %d workers: %d examples in %d packed batches of %d rows x %d tokens, "
                            + "loss %s, averaging every %d minibatches%n", sc.master(), workers, train.size(), n,
                    pc.rowsPerBatch(), pc.packLength(), loss, averagingFrequency);
            for (int e = 0; e < epochs; e++) {
                List<Double> rounds = spark.fitEpoch(batches);
                out.printf(Locale.ROOT, "epoch %d: %d rounds, mean round loss %.5f%n", e + 1, rounds.size(),
                        rounds.stream().mapToDouble(d -> d).average().orElse(Double.NaN));
            }
            List<Double> all = spark.roundLosses();
            ComputationGraph trained = spark.network();
            Map<String, Double> eval = DpoEvaluation.evaluate(trained, new DpoGraphIterator(
                    new PreferenceBatchIterator(heldOut, pc.withShuffle(false), heldOutRefs), DataType.FLOAT));
            out.printf(Locale.ROOT, "held out (%d examples): %s%n", heldOut.size(), eval);
            spark.close();
            double first = all.get(0);
            double last = all.get(all.size() - 1);
            if (json) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("workers", workers);
                r.put("first_loss", first);
                r.put("last_loss", last);
                r.put("eval_rewards_accuracy", eval.get("eval_rewards/accuracies"));
                r.put("rounds", all.size());
                r.put("epochs", epochs);
                r.put("averaging_frequency", averagingFrequency);
                r.put("loss_type", loss);
                r.put("seconds", (System.nanoTime() - t0) / 1e9);
                out.println(new ObjectMapper().writeValueAsString(r));
            }
            out.flush();
            return last < first ? 0 : 1;
        } finally {
            sc.stop();
        }
    }
}
