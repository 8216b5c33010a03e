package org.prefixshare.cli;

import org.prefixshare.hf.safetensors.ShardPlan;
import org.prefixshare.train.Checkpoint;
import org.prefixshare.train.RunExport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare export}: a training checkpoint as a Hugging Face model directory (config and tokenizer of the
 * run's base model, the checkpoint's weights).
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a training checkpoint (RUN_DIR/checkpoint-N) as a Hugging Face model directory.")
public final class ExportCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--checkpoint", required = true, description = "A checkpoint directory: RUN_DIR/checkpoint-N.")
    Path checkpoint;

    @Option(names = "--output", required = true, description = "The model directory to create (must not exist).")
    Path output;

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
        Path runDir = checkpoint.toAbsolutePath().normalize().getParent();
        RunExport run = RunExport.open(runDir, saveDtype, ShardPlan.parseSize(maxShardSize));
        Checkpoint c = Checkpoint.read(checkpoint);
        Path written = run.export(c.parameters(), output);
        out.printf("wrote %s from %s (step %d, %s)%n", written, checkpoint, c.step(), run.writer().torchDtype());
        out.flush();
        return 0;
    }
}
