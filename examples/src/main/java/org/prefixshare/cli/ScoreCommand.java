package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.bench.training.MemoryProbe;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.hf.ModelSource;
import org.prefixshare.hf.PeftAdapterFiles;
import org.prefixshare.ops.fused.FusedOps;
import org.prefixshare.io.Progress;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.train.ReferenceStore;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare score}: per-example sequence log-probs of a model on preference data, as TRL's
 * {@code concatenated_forward} defines them (the sum of the response tokens' log-probs given the prompt and the
 * previous response tokens; EOS included when appended), computed through the prefix-shared packed forward.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Per-example log-probs of each response under a model (TRL's concatenated_forward), through "
                + "the prefix-shared packed forward; --json prints one line per example and a summary line.")
public final class ScoreCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    DatasetOptions data;

    @Option(names = "--model", required = true, description = "Hugging Face model directory (its tokenizer and chat "
            + "template are used unless --tokenizer / --chat-template say otherwise), or a preset with random "
            + "weights.")
    String model;

    @Option(names = "--adapter", description = "A PEFT LoRA adapter directory (adapter_config.json, "
            + "adapter_model.safetensors) applied to --model.")
    Path adapter;

    @Option(names = "--dtype", defaultValue = "float32", description = "Compute type: float32 | float64.")
    String dtype;

    @Option(names = "--pack-length", defaultValue = "0",
            description = "Tokens per packed row (0: the longest document, which fits every admitted example).")
    int packLength;

    @Option(names = "--rows", defaultValue = "1", description = "Rows per forward pass.")
    int rows;

    @Option(names = "--limit", defaultValue = "0", description = "Score only the first N examples (0: all).")
    int limit;

    @Option(names = "--seed", defaultValue = "42", description = "Weights seed when --model is a preset.")
    long seed;

    @Option(names = "--json", description = "One JSON line per example, then one summary line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (data.input == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--input'");
        }
        long t0 = System.nanoTime();
        ModelSource source = ModelSource.resolve(model, computeType(), seed);
        ModelData loaded = ModelData.load(data, source, packLength, 0, limit, seed, err);
        int pack = loaded.packLength();
        source = loaded.source();
        DecoderModel m = DecoderModel.create(source.decoder(), source.weights(), PrefixShareOps.Implementation.AUTO,
                options(source));
        double loadSeconds = (System.nanoTime() - t0) / 1e9;
        err.printf("score: %s (%s, %,d parameters) loaded in %.1f s; %d examples%n", model,
                source.config().modelType(), m.parameterCount(), loadSeconds, loaded.examples().size());
        err.flush();

        long t1 = System.nanoTime();
        PackConfig pc = PackConfig.defaults(pack, rows, seed).withShuffle(false);
        ReferenceStore logps = ReferenceStore.compute(m::logps, loaded.examples(), pc,
                Progress.toStderr("score", 1));
        double scoreSeconds = (System.nanoTime() - t1) / 1e9;

        ObjectMapper om = new ObjectMapper();
        int better = 0;
        long tokens = 0;
        double sumChosen = 0;
        double sumRejected = 0;
        for (TokenizedExample e : loaded.examples()) {
            List<List<Integer>> ids = new ArrayList<>();
            List<Double> lp = new ArrayList<>();
            for (int r = 0; r < e.responseCount(); r++) {
                ids.add(scoredIds(e, r));
                lp.add(logps.get(e.id(), r));
                tokens += e.scoredTokens(r);
            }
            better += lp.get(0) > lp.get(1) ? 1 : 0;
            sumChosen += lp.get(0);
            sumRejected += lp.get(1);
            if (json) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("index", e.id());
                line.put("prompt_ids", e.prompt());
                line.put("chosen_ids", ids.get(0));
                line.put("rejected_ids", ids.get(1));
                line.put("chosen_logps", lp.get(0));
                line.put("rejected_logps", lp.get(1));
                if (e.responseCount() > 2) {
                    line.put("responses_ids", ids);
                    line.put("responses_logps", lp);
                }
                out.println(om.writeValueAsString(line));
            }
        }
        int n = loaded.examples().size();
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("examples", n);
        summary.put("dropped", loaded.dropped());
        summary.put("reward_accuracy", n == 0 ? Double.NaN : (double) better / n);
        summary.put("mean_chosen_logps", sumChosen / Math.max(1, n));
        summary.put("mean_rejected_logps", sumRejected / Math.max(1, n));
        summary.put("scored_tokens", tokens);
        summary.put("tokens_per_s", tokens / scoreSeconds);
        summary.put("examples_per_s", n / scoreSeconds);
        summary.put("load_seconds", loadSeconds);
        summary.put("score_seconds", scoreSeconds);
        summary.put("peak_rss_mb", MemoryProbe.vmHwmBytes() / 1048576.0);
        if (json) {
            out.println(om.writeValueAsString(summary));
        } else {
            out.printf("examples: %d (dropped %d)%n", n, loaded.dropped());
            out.printf("chosen over rejected: %.4f of examples (mean log-probs %.3f vs %.3f)%n",
                    (double) better / Math.max(1, n), sumChosen / Math.max(1, n), sumRejected / Math.max(1, n));
            out.printf("throughput: %.1f scored tokens/s, %.2f examples/s; load %.1f s; peak RSS %.0f MB%n",
                    tokens / scoreSeconds, n / scoreSeconds, loadSeconds, MemoryProbe.vmHwmBytes() / 1048576.0);
        }
        out.flush();
        return 0;
    }

    /**
     * The frozen model to score: a bfloat16 checkpoint stays bfloat16 in memory (read exactly as float32 by the
     * kernels), with the adapter when one is given.
     */
    private DecoderModel.Options options(ModelSource source) {
        boolean bf16 = source.config().torchDtype().equals("bfloat16") && source.decoder().dataType() == DataType.FLOAT
                && FusedOps.decoderLayerEnabled(PrefixShareOps.defaultImplementation());
        DataType base = bf16 ? DataType.BFLOAT16 : source.decoder().dataType();
        if (adapter == null) {
            return DecoderModel.Options.frozen(base);
        }
        PeftAdapterFiles.Adapter a = PeftAdapterFiles.read(adapter, source.decoder());
        return DecoderModel.Options.lora(a.config(), a.weights(), base, false);
    }

    /** The ids whose log-probs make response r's score (all of them, but the first when the prompt is empty). */
    private static List<Integer> scoredIds(TokenizedExample e, int r) {
        List<Integer> ids = new ArrayList<>();
        int from = e.responseLength(r) - e.scoredTokens(r);
        for (int i = from; i < e.responseLength(r); i++) {
            ids.add(e.responseToken(r, i));
        }
        return ids;
    }

    private DataType computeType() {
        return switch (dtype.toLowerCase()) {
            case "float32", "float" -> DataType.FLOAT;
            case "float64", "double" -> DataType.DOUBLE;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--dtype must be float32 or float64, got " + dtype);
        };
    }
}
