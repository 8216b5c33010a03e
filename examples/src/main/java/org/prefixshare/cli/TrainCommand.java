package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.HeldOutSplit;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.hf.ModelSource;
import org.prefixshare.hf.safetensors.ShardPlan;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.train.DpoTrainer;
import org.prefixshare.train.LrSchedule;
import org.prefixshare.train.ReferenceMode;
import org.prefixshare.train.RunExport;
import org.prefixshare.train.TrainConfig;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code prefixshare train}: DPO training with prefix sharing. With no arguments: the tiny model on the embedded
 * synthetic preference task. Every option can also come from a YAML file ({@code --config}); flags given on the
 * command line win.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a decoder with a DPO-family loss on prefix-shared packed batches. With no arguments: "
                + "the tiny model on the embedded synthetic preference task (a few minutes on 2 cores).")
public final class TrainCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", description = "YAML file whose keys are these options' long names without dashes "
            + "(e.g. 'loss: sigmoid,sft:0.5', 'lr: 1e-3'); command-line flags override it.")
    Path config;

    @CommandLine.Mixin
    DatasetOptions data;

    @Option(names = "--examples", defaultValue = "720",
            description = "Synthetic examples to generate when no --input is given (default ${DEFAULT-VALUE}).")
    int examples;

    @Option(names = "--limit", defaultValue = "0",
            description = "Use only the first N examples of --input (0: all).")
    int limit;

    @Option(names = "--eval-fraction", defaultValue = "0.15",
            description = "Held-out share of the examples, drawn by a seeded shuffle of the prompts (every example of "
                    + "a prompt on one side; default ${DEFAULT-VALUE}).")
    double evalFraction;

    @Option(names = "--model", defaultValue = "tiny", description = "A Hugging Face model directory (config.json, "
            + "safetensors weights; its tokenizer and chat template are used unless --tokenizer / --chat-template say "
            + "otherwise), a config.json (random weights), or a preset with random weights: tiny, small, mistral-7b, "
            + "llama-3-8b, qwen2-7b (default ${DEFAULT-VALUE}).")
    String model;

    @CommandLine.Mixin
    LoraOptions lora;

    @Option(names = "--save-every", defaultValue = "0",
            description = "Also write the model as a Hugging Face directory to OUTPUT/step-N every N steps (0: only "
                    + "OUTPUT/final at the end).")
    int saveEvery;

    @Option(names = "--save-dtype", description = "Dtype of the saved model: float32 | bfloat16 (default: the "
            + "model directory's torch_dtype; float32 for presets).")
    String saveDtype;

    @Option(names = "--max-shard-size", defaultValue = "5GB",
            description = "Largest safetensors shard of saved models (default ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Option(names = "--dtype", defaultValue = "float32", description = "float32 | float64.")
    String dtype;

    @Option(names = "--loss", defaultValue = "sigmoid",
            description = "Loss type(s), TRL's names, with optional weights: 'sigmoid', 'sigmoid,sft:0.5' (RPO).")
    String loss;

    @Option(names = "--beta", defaultValue = "0.1", description = "DPO beta (default ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "cDPO label smoothing.")
    double labelSmoothing;

    @Option(names = "--reference", defaultValue = "auto",
            description = "precomputed | live | none (reference-free losses only) | auto (the default: live with "
                    + "LoRA, as TRL does for a PEFT model; else precomputed).")
    String reference;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--warmup", defaultValue = "10", description = "Warm-up steps.")
    int warmup;

    @Option(names = "--schedule", defaultValue = "cosine", description = "cosine | linear | constant.")
    String schedule;

    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW decoupled weight decay.")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global-norm clipping (0 = off).")
    double maxGradNorm;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimiser step.")
    int gradAccum;

    @Option(names = "--steps", defaultValue = "120", description = "Optimiser steps (0: use --epochs).")
    int steps;

    @Option(names = "--epochs", defaultValue = "0", description = "Epochs when --steps is 0.")
    int epochs;

    @Option(names = "--eval-every", defaultValue = "40", description = "Held-out evaluation every N steps, and after "
            + "the last step of a run at least N steps long (0: only after the last; default ${DEFAULT-VALUE}).")
    int evalEvery;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Checkpoint interval (0 = at the end).")
    int checkpointEvery;

    @Option(names = "--pack-length", defaultValue = "0", description = "Tokens per packed row. 0 (default): the "
            + "longest document after truncation, at least 512, rounded up to a multiple of 64, so no example that "
            + "--max-length admits is dropped (a prompt shared by two responses makes a document of up to "
            + "2 x max-length - prompt + 1 tokens).")
    int packLength;

    @Option(names = "--rows", defaultValue = "4", description = "Rows per micro-batch.")
    int rows;

    @Option(names = "--no-packing", description = "One document per row.")
    boolean noPacking;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of weights, data generation and order.")
    long seed;

    @Option(names = "--output", defaultValue = "runs/train",
            description = "Output directory: metrics.jsonl, checkpoints, reference_logps.tsv. A run resumes from "
                    + "its latest checkpoint (default ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = "--json", description = "End with one JSON line of the final metrics.")
    boolean json;

    @Option(names = "--max-skipped-steps", defaultValue = "10", description = "A step whose loss or gradient norm is "
            + "not finite is skipped (no weight changes; counted as train/skipped_steps); this many in a row stop the "
            + "run with exit status 3 (default ${DEFAULT-VALUE}).")
    int maxSkippedSteps;

    @Override
    public Integer call() throws Exception {
        applyYaml();
        PrintWriter out = spec.commandLine().getOut();
        DataType dt = switch (dtype.toLowerCase()) {
            case "float32", "float" -> DataType.FLOAT;
            case "float64", "double" -> DataType.DOUBLE;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--dtype must be float32 or float64, got " + dtype);
        };
        ModelData md = ModelData.load(data, ModelSource.resolve(model, dt, seed), packLength, examples, limit, seed,
                out);
        packLength = md.packLength();
        ModelSource source = md.source();
        List<TokenizedExample> all = md.examples();
        if (all.isEmpty()) {
            throw new IllegalArgumentException("no examples left to train on" + (data.input == null ? ""
                    : " in " + data.input));
        }
        HeldOutSplit.Split<TokenizedExample> split = HeldOutSplit.split(all, e -> md.promptKeys().get(e.id()),
                evalFraction, seed);
        List<TokenizedExample> train = split.train();
        List<TokenizedExample> eval = split.heldOut();
        DecoderConfig mc = source.decoder();
        LossConfig lc = LossConfig.of(LossConfig.Term.parseList(loss)).withBeta(beta)
                .withLabelSmoothing(labelSmoothing);
        ReferenceMode refMode = reference.equalsIgnoreCase("auto")
                ? (lora.enabled() ? ReferenceMode.LIVE : ReferenceMode.PRECOMPUTED) : ReferenceMode.fromName(reference);
        TrainConfig tc = new TrainConfig(mc, lc, refMode, lr, warmup,
                LrSchedule.Shape.fromName(schedule), weightDecay, maxGradNorm, gradAccum, steps, epochs, evalEvery,
                checkpointEvery, packLength, rows, !noPacking, seed, output);
        out.printf("training on %d examples (%d held out), output %s%n", train.size(), eval.size(), output);
        out.flush();
        DecoderModel.Options options = lora.options(source, seed);
        RunExport run = RunExport.prepare(output, source.config(), md.tokenizerDir(), options.lora(), saveDtype,
                ShardPlan.parseSize(maxShardSize));
        // progress goes to standard error: standard output holds the results (and --json's last line)
        DpoTrainer trainer = new DpoTrainer(tc, source.weights(), source.fingerprint(), options, train, eval,
                System.err)
                .maxSkippedSteps(maxSkippedSteps)
                .exportEvery(saveEvery, (step, m) -> run.export(m, output.resolve("step-" + step)));
        DpoTrainer.Result r = trainer.train();
        Path saved = run.export(trainer.model(), output.resolve("final"));
        out.printf("saved %s (%s)%n", saved, options.lora() != null ? "PEFT adapter directory; `prefixshare export "
                + "--adapter " + saved + " --merge --output DIR` merges it into its base"
                : "Hugging Face model directory, " + run.writer().torchDtype());
        Map<String, Object> fin = new LinkedHashMap<>();
        fin.put("steps", r.steps());
        fin.putAll(r.lastTrain());
        fin.putAll(r.lastEval());
        fin.put("eval_rewards_accuracy", r.lastEval().get("eval_rewards/accuracies"));
        fin.put("train_samples_per_s", r.trainSamplesPerSecond());
        fin.put("train_tokens_per_s", r.trainTokensPerSecond());
        fin.put("step_seconds", r.stepSeconds());
        fin.put("trainable_params", trainer.model().trainableParameterCount());
        fin.put("peak_rss_mb", org.prefixshare.bench.training.MemoryProbe.vmHwmBytes() / 1048576.0);
        if (r.lastTrain().isEmpty() && r.lastEval().isEmpty()) {
            // resumed from a checkpoint at the last step: nothing ran, so there are no new figures to print
            fin.put("already_complete", true);
            out.printf("done: %s already holds a finished run of %d steps, so nothing was trained; its metrics are in "
                    + "%s. Pass --output DIR (or delete %s) to train again.%n", output, r.steps(),
                    output.resolve("metrics.jsonl"), output);
        } else {
            out.printf("done: %d steps, %s, %.1f samples/s, %.0f tokens/s, %.2f s a step%n", r.steps(),
                    r.lastEval().isEmpty() ? "no held-out evaluation (the run is shorter than --eval-every " + evalEvery
                            + ")" : "held-out rewards/accuracies " + r.lastEval().get("eval_rewards/accuracies"),
                    r.trainSamplesPerSecond(), r.trainTokensPerSecond(), r.stepSeconds());
        }
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(fin));
        }
        out.flush();
        return 0;
    }

    /** Options not given on the command line take their value from the YAML file, when there is one. */
    private void applyYaml() throws Exception {
        if (config == null) {
            return;
        }
        Map<String, Object> values;
        try (InputStream in = Files.newInputStream(config)) {
            values = new Yaml().load(in);
        }
        if (values == null) {
            return;
        }
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        for (Map.Entry<String, Object> e : values.entrySet()) {
            CommandLine.Model.OptionSpec opt = spec.findOption("--" + e.getKey());
            if (opt == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), config + ": unknown key '" + e.getKey()
                        + "' (keys are the long option names of 'prefixshare train --help' without dashes)");
            }
            if (!parsed.hasMatchedOption(opt)) {
                opt.setValue(convert(opt, String.valueOf(e.getValue())));
            }
        }
    }

    private Object convert(CommandLine.Model.OptionSpec opt, String value) {
        Class<?> t = opt.type();
        if (t == boolean.class || t == Boolean.class) {
            return Boolean.parseBoolean(value);
        } else if (t == PreferenceFormat.class) {
            return PreferenceFormat.parse(value);
        } else if (t == int.class || t == Integer.class) {
            return Integer.parseInt(value);
        } else if (t == long.class || t == Long.class) {
            return Long.parseLong(value);
        } else if (t == double.class || t == Double.class) {
            return Double.parseDouble(value);
        } else if (t == Path.class) {
            return Path.of(value);
        }
        return value;
    }
}
