package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.deeplearning4j.datasets.iterator.AsyncDataSetIterator;
import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.listeners.ScoreIterationListener;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layers.DecoderBlock;
import org.prefixshare.layers.DecoderBlockLayer;
import org.prefixshare.layers.DpoMetricsListener;
import org.prefixshare.layers.DpoOutputLayer;
import org.prefixshare.layers.FrozenReference;
import org.prefixshare.layers.PrefixSharedEmbedding;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.PreferenceDataSetIterator;
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
 * {@code prefixshare example dl4j-network}: prefix sharing in a plain DL4J {@link MultiLayerNetwork} built with
 * {@code ListBuilder} (the README's "Prefix sharing in your MultiLayerNetwork" configuration), fed by the
 * {@link PreferenceDataSetIterator} (one DataSet per packed batch, features {@code [B,4,T]}), trained with
 * {@code net.fit(DataSetIterator)} through DL4J's {@link AsyncDataSetIterator} on the embedded synthetic task with
 * standard DPO (reference log-probs precomputed by a frozen copy of the network), saved, restored and trained on.
 */
@Command(name = "dl4j-network", mixinStandardHelpOptions = true,
        description = "Build a MultiLayerNetwork with DL4J's ListBuilder (PrefixSharedEmbedding + DecoderBlockLayers "
                + "+ DpoOutputLayer), train it with net.fit(DataSetIterator) and DPO on the embedded synthetic task "
                + "(reference log-probs by the network itself), save, restore, continue.")
public final class ExampleDl4jNetworkCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--steps", defaultValue = "50", description = "Training steps before saving (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "1", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--loss", defaultValue = "sigmoid", description = "DPO-family loss, TRL's names; default "
            + "${DEFAULT-VALUE}.")
    String loss;

    @Option(names = "--reference", defaultValue = "precomputed", description = "precomputed (one pass of the frozen "
            + "initial network before training) or live (the frozen network on every batch); default "
            + "${DEFAULT-VALUE}.")
    String reference;

    @Option(names = "--examples", defaultValue = "240", description = "Synthetic training examples (default "
            + "${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--json", description = "End with one line holding a JSON object of the results.")
    boolean json;

    /** The configuration of the README section, sized for the byte tokenizer. */
    static MultiLayerConfiguration configuration(double lr, long seed, LossConfig loss) {
        int vocab = 260;     // byte tokenizer
        int hidden = 64;
        int layers = 2;
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(lr))
                .list()
                // features [B,4,T] (token, position, node, subtreeEnd); out: hidden states + the layout, [B,H+3,T]
                .layer(new PrefixSharedEmbedding.Builder().vocabSize(vocab).hiddenSize(hidden).build());
        for (int l = 0; l < layers; l++) {
            list.layer(new DecoderBlockLayer.Builder().block(new DecoderBlock.Builder()
                    .hiddenSize(hidden).numHeads(4).numKvHeads(2).headDim(16)
                    .intermediateSize(176).rmsNormEps(1e-6).ropeTheta(10000)
                    .build()).build());
        }
        return list.layer(new DpoOutputLayer.Builder()
                        .hiddenSize(hidden).vocabSize(vocab)
                        .layoutChannels(3)                 // the input carries the layout behind the hidden states
                        .loss(loss)                        // e.g. LossConfig.defaults(): DPO sigmoid, beta 0.1
                        .build())
                .build();
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (steps < 2 || count < 8) {
            throw new CommandLine.ParameterException(spec.commandLine(), "need --steps >= 2 and --examples >= 8, got "
                    + steps + " and " + count);
        }
        LossConfig lossConfig = ExampleDl4jGraphCommand.lossConfig(spec.commandLine(), loss);
        boolean live = ExampleDl4jGraphCommand.liveReference(spec.commandLine(), reference);
        long t0 = System.nanoTime();
        List<TokenizedExample> examples = ExampleDl4jGraphCommand.syntheticExamples(count, seed);
        PackConfig pc = PackConfig.defaults(256, 2, seed).withPrefetch(1);

        MultiLayerNetwork net = new MultiLayerNetwork(configuration(lr, seed, lossConfig));
        net.init();
        FrozenReference frozen = lossConfig.needsReference() ? FrozenReference.copyOf(net) : null;
        ReferenceLogps refs = ReferenceLogps.NONE;
        String refMode = "none";
        if (frozen != null && !live) {
            long r0 = System.nanoTime();
            refs = frozen.precompute(examples, pc);
            refMode = "precomputed";
            out.printf("reference log-probs of %d examples precomputed by the frozen network in %.2f s%n",
                    examples.size(), (System.nanoTime() - r0) / 1e9);
        }
        PreferenceDataSetIterator it = new PreferenceDataSetIterator(new PreferenceBatchIterator(examples, pc, refs),
                DataType.FLOAT);
        if (frozen != null && live) {
            it.liveReference(frozen);
            refMode = "live";
        }
        DataSet fixed = it.next();
        it.reset();

        DpoMetricsListener metrics = new DpoMetricsListener(0);
        net.setListeners(new ScoreIterationListener(10), metrics);
        double firstLoss = net.score(fixed);
        out.printf("network: %d parameters, loss %s (reference: %s); fixed-batch loss before training %.5f%n",
                net.numParams(), loss, refMode, firstLoss);
        fit(net, it, steps);
        double trained = net.score(fixed);
        out.printf("after %d steps: fixed-batch loss %.5f, last metrics %s%n", steps, trained, metrics.last());

        File file = Files.createTempFile("prefixshare-dl4j-network", ".zip").toFile();
        file.deleteOnExit();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        double restoredLoss = restored.score(fixed);
        boolean matches = restoredLoss == trained && restored.params().equals(net.params())
                && restored.getUpdater().getStateViewArray().equals(net.getUpdater().getStateViewArray());
        out.printf("saved %s (%d bytes), restored: loss %.5f, matches %s%n", file, file.length(), restoredLoss,
                matches);
        int more = Math.max(1, steps / 5);
        restored.setListeners(metrics);
        fit(restored, it, more);
        double lastLoss = restored.score(fixed);
        out.printf("continued %d steps: fixed-batch loss %.5f%n", more, lastLoss);
        if (json) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("command", "example dl4j-network");
            r.put("loss_type", loss);
            r.put("reference", refMode);
            r.put("steps", steps);
            r.put("continued_steps", more);
            r.put("parameters", net.numParams());
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

    /**
     * {@code n} steps of {@code net.fit(DataSetIterator)} through DL4J's AsyncDataSetIterator, each call stopping
     * after the steps left (EarlyTerminationDataSetIterator), a new epoch whenever the iterator runs dry.
     */
    private static void fit(MultiLayerNetwork net, PreferenceDataSetIterator it, int n) {
        int done = 0;
        while (done < n) {
            if (!it.hasNext()) {
                it.reset();
            }
            int before = net.getIterationCount();
            net.fit(new AsyncDataSetIterator(new EarlyTerminationDataSetIterator(it, n - done), 2));
            done += net.getIterationCount() - before;
        }
    }
}
