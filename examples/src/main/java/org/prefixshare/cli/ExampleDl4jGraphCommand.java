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
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
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
 * {@code graph.fit(iterator)} on the embedded synthetic task (standard DPO by default, its reference log-probs
 * computed by a frozen copy of the graph: precomputed once, or live per batch), saved with {@link ModelSerializer},
 * restored and trained on.
 */
@Command(name = "dl4j-graph", mixinStandardHelpOptions = true,
        description = "Build a ComputationGraph from DL4J config builders (EmbeddingSequenceLayer + DecoderBlock "
                + "vertices + DpoOutputLayer), train it with DPO on the embedded synthetic task (reference log-probs "
                + "by the graph itself), save, restore, continue.")
public final class ExampleDl4jGraphCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--steps", defaultValue = "50", description = "Training steps before saving (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "1", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--loss", defaultValue = "sigmoid", description = "DPO-family loss, TRL's names (sigmoid, ipo, "
            + "hinge, ..., or the reference-free cpo, simpo, orpo; a,b:weight mixes); default ${DEFAULT-VALUE}.")
    String loss;

    @Option(names = "--reference", defaultValue = "precomputed", description = "Where the reference log-probs "
            + "come from when the loss needs them: precomputed (one pass of the frozen initial graph before "
            + "training) or live (the frozen graph on every batch); default ${DEFAULT-VALUE}.")
    String reference;

    @Option(names = "--examples", defaultValue = "240", description = "Synthetic training examples (default "
            + "${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--json", description = "End with one line holding a JSON object of the results.")
    boolean json;

    /** The configuration of the README section, sized for the byte tokenizer. */
    static ComputationGraphConfiguration configuration(int seqLen, double lr, long seed, LossConfig loss) {
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
                        .loss(loss)                        // e.g. LossConfig.defaults(): DPO sigmoid, beta 0.1
                        .build(), prev)
                .setOutputs("dpo")
                .build();
    }

    /** The embedded synthetic task, tokenised by bytes. */
    static List<TokenizedExample> syntheticExamples(int count, long seed) {
        return new ExampleTokenizer(new ByteTokenizer()).tokenizeAll(SyntheticPreferences.generate(count, seed));
    }

    /** The loss option parsed, failing as bad input with the valid names. */
    static LossConfig lossConfig(CommandLine cl, String spec) {
        try {
            return LossConfig.of(LossConfig.Term.parseList(spec));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--loss: " + e.getMessage());
        }
    }

    /** "precomputed" or "live" (case-insensitive). */
    static boolean liveReference(CommandLine cl, String reference) {
        return switch (reference.toLowerCase(java.util.Locale.ROOT)) {
            case "precomputed" -> false;
            case "live" -> true;
            default -> throw new CommandLine.ParameterException(cl, "--reference must be precomputed or live, got '"
                    + reference + "'");
        };
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (steps < 2 || count < 8) {
            throw new CommandLine.ParameterException(spec.commandLine(), "need --steps >= 2 and --examples >= 8, got "
                    + steps + " and " + count);
        }
        LossConfig lossConfig = lossConfig(spec.commandLine(), loss);
        boolean live = liveReference(spec.commandLine(), reference);
        long t0 = System.nanoTime();
        int seqLen = 256;
        List<TokenizedExample> examples = syntheticExamples(count, seed);
        PackConfig pc = PackConfig.defaults(seqLen, 2, seed).withPrefetch(1);

        ComputationGraph graph = new ComputationGraph(configuration(seqLen, lr, seed, lossConfig));
        graph.init();
        // standard DPO: the reference is a frozen copy of the initial graph, made before the first step
        FrozenReference frozen = lossConfig.needsReference() ? FrozenReference.copyOf(graph) : null;
        ReferenceLogps refs = ReferenceLogps.NONE;
        String refMode = "none";
        if (frozen != null && !live) {
            long r0 = System.nanoTime();
            refs = frozen.precompute(examples, pc);
            refMode = "precomputed";
            out.printf("reference log-probs of %d examples precomputed by the frozen graph in %.2f s%n",
                    examples.size(), (System.nanoTime() - r0) / 1e9);
        }
        DpoGraphIterator it = new DpoGraphIterator(new PreferenceBatchIterator(examples, pc, refs), DataType.FLOAT);
        if (frozen != null && live) {
            it.liveReference(frozen);
            refMode = "live";
        }
        MultiDataSet fixed = it.next();
        it.reset();

        DpoMetricsListener metrics = new DpoMetricsListener(0);
        graph.setListeners(new ScoreIterationListener(10), metrics);
        double firstLoss = graph.score(fixed);
        out.printf("graph: %d parameters, loss %s (reference: %s); fixed-batch loss before training %.5f%n",
                graph.params().length(), loss, refMode, firstLoss);
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
            r.put("loss_type", loss);
            r.put("reference", refMode);
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
