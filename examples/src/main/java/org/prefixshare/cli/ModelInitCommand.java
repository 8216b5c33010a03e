package org.prefixshare.cli;

import org.prefixshare.bench.training.MemoryProbe;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelWriter;
import org.prefixshare.hf.safetensors.ShardPlan;
import org.prefixshare.hf.ModelInit;
import org.prefixshare.io.Progress;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare model init}: a randomly initialised Hugging Face model directory (transformers'
 * {@code from_config} then {@code save_pretrained}), for tests and for memory and speed runs when no real weights are
 * at hand. Tensors are generated and written one at a time.
 */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Write a randomly initialised Hugging Face model directory (HF's initialisation, std 0.02), "
                + "one tensor at a time: a 7B model in bfloat16 needs well under 2 GB of memory.")
public final class ModelInitCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    static final class Architecture {
        @Option(names = "--preset", description = "tiny, small, mistral-7b, llama-3-8b, qwen2-7b.")
        String preset;

        @Option(names = "--config", description = "A Hugging Face config.json (llama, mistral or qwen2).")
        Path config;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Architecture architecture;

    @Option(names = "--num-layers", defaultValue = "0",
            description = "Keep only the first N decoder layers (the model's shape at a fraction of its depth).")
    int numLayers;

    @Option(names = "--dtype", defaultValue = "float32", description = "Weights on disk: float32 | bfloat16.")
    String dtype;

    @Option(names = "--output", required = true, description = "Directory to create (must not exist).")
    Path output;

    @Option(names = "--seed", defaultValue = "42", description = "Weights seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--tokenizer", description = "A tokenizer.json to copy in (with the tokenizer_config.json "
            + "beside it); a preset's vocabulary grows to the tokenizer's when smaller.")
    Path tokenizer;

    @Option(names = "--max-shard-size", defaultValue = "5GB",
            description = "Largest safetensors shard (transformers' default ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        HfConfig config = architecture.preset != null ? HfConfig.preset(architecture.preset)
                : HfConfig.read(architecture.config);
        if (numLayers > 0) {
            config = config.withNumLayers(numLayers);
        }
        Path tokenizerDir = null;
        if (tokenizer != null) {
            if (!Files.isRegularFile(tokenizer)) {
                throw new IllegalArgumentException(tokenizer + ": no such file (--tokenizer takes a tokenizer.json)");
            }
            try (HfTokenizer tok = HfTokenizer.load(tokenizer)) {
                if (tok.vocabSize() > config.decoder().vocabSize()) {
                    if (architecture.preset == null) {
                        throw new IllegalArgumentException(tokenizer + " has " + tok.vocabSize() + " tokens but "
                                + architecture.config + " says vocab_size " + config.decoder().vocabSize());
                    }
                    var json = config.json();
                    json.put("vocab_size", tok.vocabSize());
                    config = HfConfig.parse(json.toString(), "preset " + architecture.preset);
                }
            }
            tokenizerDir = tokenizer.toAbsolutePath().getParent();
        }
        HfModelWriter writer = HfModelWriter.of(dtype, ShardPlan.parseSize(maxShardSize));
        long params = config.decoder().parameterCount();
        long bytes = params * writer.dtype().byteSize();
        err.printf("model init: %s, %d layers, %,d parameters, %.2f GB as %s -> %s%n", config.modelType(),
                config.decoder().numLayers(), params, bytes / 1e9, writer.torchDtype(), output);
        err.flush();
        int total = config.decoder().parameterShapes().size();
        Progress progress = Progress.toStderr("model init", total);
        long t0 = System.nanoTime();
        Path written = ModelInit.write(config, seed, writer, output, tokenizerDir,
                name -> progress.advance(1, "tensor " + name));
        double secs = (System.nanoTime() - t0) / 1e9;
        out.printf("wrote %s: %,d parameters, %.2f GB (%s) in %.1f s (%.0f MB/s); peak RSS %.0f MB%n", written,
                params, bytes / 1e9, writer.torchDtype(), secs, bytes / 1e6 / secs,
                MemoryProbe.vmHwmBytes() / 1048576.0);
        out.flush();
        return 0;
    }
}
