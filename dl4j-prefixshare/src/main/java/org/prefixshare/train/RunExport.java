package org.prefixshare.train;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelDirectory;
import org.prefixshare.hf.HfModelWriter;
import org.prefixshare.hf.PeftAdapterFiles;
import org.prefixshare.io.AtomicDirectory;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.model.lora.LoraTarget;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * How a training run's models leave it. At the start of a run the base model's {@code config.json} and tokenizer
 * files are kept in {@code OUTPUT/base-model/} (with the LoRA run's {@code adapter_config.json}, whose
 * {@code base_model_name_or_path} names the base model directory). The trained model is then written beside them
 * ({@code OUTPUT/final}, {@code OUTPUT/step-N}): a Hugging Face model directory after full fine-tuning, a PEFT adapter
 * directory after LoRA; {@code prefixshare export} turns any checkpoint of the run into either, and merges adapters
 * into their base ({@link #exportMerged}).
 *
 * @param runDir the run's output directory
 * @param config the base model's config (vocabulary as trained)
 * @param lora   the run's adapters, or null for full fine-tuning
 * @param writer dtype and shard size of exported (and merged) models
 */
public record RunExport(Path runDir, HfConfig config, LoraConfig lora, HfModelWriter writer) {

    /** The folder of the run directory holding the base model's config and tokenizer files. */
    public static final String BASE_MODEL = "base-model";

    /**
     * Records the base model in {@code runDir/base-model} (config.json, the tokenizer files of {@code tokenizerDir},
     * which may be null, and the adapters' config) and returns the exporter.
     *
     * @param lora          the adapters (their {@code base_model_name_or_path} set to the base directory), or null
     * @param saveDtype     dtype of exported models (null: the config's torch_dtype, float32 for float64)
     * @param maxShardBytes largest safetensors shard
     */
    public static RunExport prepare(Path runDir, HfConfig config, Path tokenizerDir, LoraConfig lora,
                                    String saveDtype, long maxShardBytes) {
        Path base = runDir.resolve(BASE_MODEL);
        try (AtomicDirectory out = AtomicDirectory.create(base)) {
            config.write(out.dir());
            HfModelWriter.copySideFiles(tokenizerDir, out.dir());
            if (lora != null) {
                lora.write(out.dir());
            }
            out.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + base + ": " + e.getMessage(), e);
        }
        return new RunExport(runDir, config, lora, writer(config, saveDtype, maxShardBytes));
    }

    /**
     * The exporter of a finished or interrupted run (reads {@code runDir/base-model}); arguments as for
     * {@link #prepare}.
     */
    public static RunExport open(Path runDir, String saveDtype, long maxShardBytes) {
        Path base = runDir.resolve(BASE_MODEL);
        if (!Files.isRegularFile(base.resolve("config.json"))) {
            throw new IllegalArgumentException(runDir + ": not a training run directory of prefixshare (no "
                    + BASE_MODEL + "/config.json)");
        }
        HfConfig config = HfConfig.read(base.resolve("config.json"));
        Path adapter = base.resolve(LoraConfig.CONFIG_FILE);
        LoraConfig lora = Files.isRegularFile(adapter) ? LoraConfig.read(adapter) : null;
        return new RunExport(runDir, config, lora, writer(config, saveDtype, maxShardBytes));
    }

    private static HfModelWriter writer(HfConfig config, String saveDtype, long maxShardBytes) {
        String dtype = saveDtype != null ? saveDtype
                : config.torchDtype().equals("float64") ? "float32" : config.torchDtype();
        return HfModelWriter.of(dtype, maxShardBytes);
    }

    /** Writes what {@code model} trains at {@code dir} (replacing one there): its adapters, or the whole model. */
    public Path export(DecoderModel model, Path dir) {
        return export(model.parameters(), dir);
    }

    /**
     * Writes trained parameters at {@code dir} (replacing one there): a PEFT adapter directory for a LoRA run (the
     * parameters are the adapters, by PEFT name), else a Hugging Face model directory (by Hugging Face name).
     */
    public Path export(Map<String, INDArray> parameters, Path dir) {
        if (lora != null) {
            return PeftAdapterFiles.write(dir, lora, PeftAdapterFiles.ordered(config.decoder(), lora, parameters));
        }
        Map<String, long[]> shapes = config.decoder().parameterShapes();
        for (String name : shapes.keySet()) {
            if (!parameters.containsKey(name)) {
                throw new IllegalArgumentException("cannot export to " + dir + ": parameter '" + name + "' is "
                        + "missing (the checkpoint does not match " + runDir.resolve(BASE_MODEL) + "/config.json)");
            }
        }
        return writer.write(dir, config, shapes, parameters::get, runDir.resolve(BASE_MODEL), true);
    }

    /**
     * Merges a LoRA run's adapters into the base model's weights ({@code W + scale B A}, PEFT's
     * {@code merge_and_unload}) and writes the result as a Hugging Face model directory at {@code dir}. The base is read
     * from {@code baseDir} one tensor at a time.
     */
    public Path exportMerged(Map<String, INDArray> adapters, Path baseDir, Path dir) {
        if (lora == null) {
            throw new IllegalArgumentException(runDir + " is a full fine-tuning run: its checkpoints are whole models "
                    + "already (export them without --merge)");
        }
        return mergeInto(config, lora, adapters, baseDir, writer, dir, runDir.resolve(BASE_MODEL));
    }

    /**
     * Writes {@code base} (a model directory) with {@code adapters} merged in ({@code W + scale B A}, in float64 then
     * rounded to the writer's dtype) at {@code dir}, with the side files of {@code sideFilesFrom}.
     */
    public static Path mergeInto(HfConfig config, LoraConfig lora, Map<String, INDArray> adapters, Path base,
                                 HfModelWriter writer, Path dir, Path sideFilesFrom) {
        DecoderConfig c = config.decoder();
        Map<String, String[]> adapted = new HashMap<>();
        for (int l = 0; l < c.numLayers(); l++) {
            for (LoraTarget t : lora.orderedTargets()) {
                adapted.put(t.weightName(l), new String[]{LoraAdapters.aName(t, l), LoraAdapters.bName(t, l)});
            }
        }
        try (HfModelDirectory src = HfModelDirectory.open(base)) {
            WeightSource weights = src.weights(c);
            Map<String, long[]> shapes = c.parameterShapes();
            INDArray[] previous = new INDArray[1];
            try {
                return writer.write(dir, src.config(), shapes, name -> {
                    if (previous[0] != null) {
                        previous[0].close();                     // one base tensor in memory at a time
                    }
                    INDArray w = weights.load(name, shapes.get(name), DataType.FLOAT);
                    String[] ab = adapted.get(name);
                    previous[0] = ab == null ? w : LoraAdapters.merged(w, adapters.get(ab[0]), adapters.get(ab[1]),
                            lora.scale(), DataType.FLOAT);
                    if (ab != null) {
                        w.close();
                    }
                    return previous[0];
                }, sideFilesFrom, true);
            } finally {
                if (previous[0] != null) {
                    previous[0].close();
                }
            }
        }
    }
}
