package org.prefixshare.cli;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelWriter;
import org.prefixshare.hf.PeftAdapterFiles;
import org.prefixshare.hf.safetensors.ShardPlan;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.train.Checkpoint;
import org.prefixshare.train.RunExport;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare export}: a training checkpoint as a Hugging Face model directory (full fine-tuning) or a PEFT
 * adapter directory (LoRA), and LoRA adapters merged into their base ({@code --merge}, PEFT's
 * {@code merge_and_unload}).
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a training checkpoint (RUN_DIR/checkpoint-N) as a Hugging Face model directory (or, for "
                + "a LoRA run, a PEFT adapter directory); with --merge, the adapters merged into their base model.")
public final class ExportCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    static final class Source {
        @Option(names = "--checkpoint", description = "A checkpoint: RUN_DIR/checkpoint-N.")
        Path checkpoint;

        @Option(names = "--adapter", description = "A PEFT LoRA adapter directory (with --merge).")
        Path adapter;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--output", required = true, description = "The directory to create (must not exist).")
    Path output;

    @Option(names = "--merge", description = "Merge LoRA adapters into the base model: W + (alpha/r) B A.")
    boolean merge;

    @Option(names = "--model", description = "The base model directory for --merge (default: the adapter's "
            + "base_model_name_or_path).")
    Path model;

    @Option(names = "--save-dtype", description = "float32 | bfloat16 (default: the base model's torch_dtype).")
    String saveDtype;

    @Option(names = "--max-shard-size", defaultValue = "5GB",
            description = "Largest safetensors shard (default ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (Files.exists(output)) {
            throw new IllegalArgumentException(output + ": already exists; choose another --output or delete it");
        }
        long shard = ShardPlan.parseSize(maxShardSize);
        Path written;
        if (source.checkpoint != null) {
            Path runDir = source.checkpoint.toAbsolutePath().normalize().getParent();
            RunExport run = RunExport.open(runDir, saveDtype, shard);
            Checkpoint c = Checkpoint.read(source.checkpoint);
            if (merge) {
                written = run.exportMerged(c.parameters(), base(run.lora()), output);
            } else {
                written = run.export(c.parameters(), output);
            }
            out.printf("wrote %s from %s (step %d, %s)%n", written, source.checkpoint, c.step(),
                    run.lora() == null ? "model, " + run.writer().torchDtype()
                            : merge ? "adapters merged into " + base(run.lora()) : "PEFT adapter");
        } else {
            if (!merge) {
                throw new IllegalArgumentException("--adapter is exported with --merge (an adapter directory is "
                        + "already PEFT's format)");
            }
            LoraConfig lora = LoraConfig.read(source.adapter.resolve(LoraConfig.CONFIG_FILE));
            Path base = base(lora);
            HfConfig config = HfConfig.read(base.resolve("config.json"));
            PeftAdapterFiles.Adapter a = PeftAdapterFiles.read(source.adapter, config.decoder());
            Map<String, INDArray> adapters = new LinkedHashMap<>();
            LoraAdapters.shapes(config.decoder(), lora).forEach((name, shape) ->
                    adapters.put(name, a.weights().load(name, shape, DataType.FLOAT)));
            HfModelWriter writer = HfModelWriter.of(saveDtype != null ? saveDtype
                    : config.torchDtype().equals("float64") ? "float32" : config.torchDtype(), shard);
            written = RunExport.mergeInto(config, lora, adapters, base, writer, output, base);
            out.printf("wrote %s: %s merged into %s (%s)%n", written, source.adapter, base, writer.torchDtype());
        }
        out.flush();
        return 0;
    }

    /** The base model of a merge: --model, else the adapter config's base_model_name_or_path. */
    private Path base(LoraConfig lora) {
        if (lora == null) {
            throw new IllegalArgumentException("--merge needs a LoRA run or adapter; this run is full fine-tuning");
        }
        Path base = model != null ? model : Path.of(lora.baseModelNameOrPath());
        if (!Files.isRegularFile(base.resolve("config.json"))) {
            throw new IllegalArgumentException("the base model " + base + " (" + (model != null ? "--model"
                    : "the adapter's base_model_name_or_path") + ") is not a model directory; pass --model DIR");
        }
        return base;
    }
}
