package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.optimize.listeners.ScoreIterationListener;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.synthetic.SyntheticPreferences;
import org.prefixshare.layers.DecoderBlock;
import org.prefixshare.layers.DpoGraphIterator;
import org.prefixshare.layers.DpoMetricsListener;
import org.prefixshare.layers.DpoOutputLayer;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.File;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare example dl4j-graph}: prefix sharing in a plain DL4J {@link ComputationGraph} built from config
 * builders (the README's "Prefix sharing in your ComputationGraph" configuration), trained with
 * {@code graph.fit(iterator)} on the embedded synthetic task, saved with {@link ModelSerializer}, restored and
 * trained on.
 */
@Command(name = "dl4j-graph", mixinStandardHelpOptions = true,
        description = "Build a ComputationGraph from DL4J config builders (EmbeddingSequenceLayer + DecoderBlock "
                + "vertices + DpoOutputLayer), train it on the embedded synthetic task, save, restore, continue.")
public final class ExampleDl4jGraphCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--steps", defaultValue = "50", description = "Training steps before saving (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "1", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "End with one line holding a JSON object of the results.")
    boolean json;

    /** The configuration of the README section, sized for the byte tokenizer. */
    static ComputationGraphConfiguration configuration(int seqLen, double lr, long seed) {
        int vocab = 260;     // byte tokenizer
        int hidden = 64;
        int layers = 2;
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(lr))
                .graphBuilder()
                // the layout arrays of the row layout enter as graph inputs, [B,T] each (T fixed)
                .addInputs("token", "position", "node", "subtreeEnd")
                .addLayer("model.embed-tokens", new EmbeddingSequenceLayer.Builder()
                        .nIn(vocab).nOut(hidden).hasBias(false).activation(Activation.IDENTITY)
                        .weightInit(new WeightInitDistribution(new NormalDistribution(0, 0.02)))
                        .build(), "token");
        String prev = "model.embed-tokens";
        for (int l = 0; l < layers; l++) {
            String name = "model.layers." + l;
            g.addVertex(name, new DecoderBlock.Builder()
                            .hiddenSize(hidden).numHeads(4).numKvHeads(2).headDim(16)
                            .intermediateSize(176).rmsNormEps(1e-6).ropeTheta(10000)
                            .build(),
                    prev, "position", "node", "subtreeEnd");
            prev = name;
        }
        return g.addLayer("dpo", new DpoOutputLayer.Builder()
                        .hiddenSize(hidden).vocabSize(vocab)
                        .loss(LossConfig.of(LossConfig.Term.parseList("cpo")))   // reference-free: no ref pass
                        .build(), prev)
                .setOutputs("dpo")
                .build();
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (steps < 2) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--steps must be >= 2, got " + steps);
        }
        long t0 = System.nanoTime();
        int seqLen = 256;
        List<TokenizedExample> examples = new ExampleTokenizer(new ByteTokenizer())
                .tokenizeAll(SyntheticPreferences.generate(240, seed));
        PackConfig pc = PackConfig.defaults(seqLen, 2, seed).withPrefetch(1);
        DpoGraphIterator it = new DpoGraphIterator(new PreferenceBatchIterator(examples, pc), DataType.FLOAT);
        MultiDataSet fixed = it.next();
        it.reset();

        ComputationGraph graph = new ComputationGraph(configuration(seqLen, lr, seed));
        graph.init();
        DpoMetricsListener metrics = new DpoMetricsListener(0);
        graph.setListeners(new ScoreIterationListener(10), metrics);
        double firstLoss = graph.score(fixed);
        out.printf("graph: %d parameters; fixed-batch loss before training %.5f%n", graph.params().length(), firstLoss);
        fit(graph, it, steps);
        double trained = graph.score(fixed);
        out.printf("after %d steps: fixed-batch loss %.5f, last metrics %s%n", steps, trained, metrics.last());

        File file = Files.createTempFile("prefixshare-dl4j-graph", ".zip").toFile();
        file.deleteOnExit();
        ModelSerializer.writeModel(graph, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        double restoredLoss = restored.score(fixed);
        boolean matches = restoredLoss == trained && restored.params().equals(graph.params())
                && restored.getUpdater().getStateViewArray().equals(graph.getUpdater().getStateViewArray());
        out.printf("saved %s (%d bytes), restored: loss %.5f, matches %s%n", file, file.length(), restoredLoss,
                matches);
        int more = Math.max(1, steps / 5);
        restored.setListeners(metrics);
        fit(restored, it, more);
        double lastLoss = restored.score(fixed);
        out.printf("continued %d steps: fixed-batch loss %.5f%n", more, lastLoss);
        if (json) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("command", "example dl4j-graph");
            r.put("steps", steps);
            r.put("continued_steps", more);
            r.put("parameters", graph.params().length());   // numParams() counts layers only, not vertices
            r.put("first_loss", firstLoss);
            r.put("trained_loss", trained);
            r.put("last_loss", lastLoss);
            r.put("restored_matches", matches);
            r.put("metrics", metrics.last());
            r.put("seconds", (System.nanoTime() - t0) / 1e9);
            out.println(new ObjectMapper().writeValueAsString(r));
        }
        out.flush();
        return lastLoss < firstLoss && matches ? 0 : 1;
    }

    /** {@code n} steps of {@code graph.fit(MultiDataSet)}, starting a new epoch whenever the iterator runs dry. */
    private static void fit(ComputationGraph graph, DpoGraphIterator it, int n) {
        for (int i = 0; i < n; i++) {
            if (!it.hasNext()) {
                it.reset();
            }
            graph.fit(it.next());
        }
    }
}
