package org.prefixshare.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelWriter;
import org.prefixshare.io.AtomicDirectory;
import org.prefixshare.model.DecoderModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * How a training run's models leave it as Hugging Face directories. At the start of a run the base model's
 * {@code config.json} and tokenizer files are kept in {@code OUTPUT/base-model/}; the trained model is then written
 * beside them ({@code OUTPUT/final}, {@code OUTPUT/step-N}) with those files, and {@code prefixshare export} turns any
 * checkpoint of the run into a model directory the same way.
 *
 * @param runDir the run's output directory
 * @param config the base model's config (vocabulary as trained)
 * @param writer dtype and shard size of exported models
 */
public record RunExport(Path runDir, HfConfig config, HfModelWriter writer) {

    /** The folder of the run directory holding the base model's config and tokenizer files. */
    public static final String BASE_MODEL = "base-model";

    /**
     * Records the base model in {@code runDir/base-model} (config.json and the tokenizer files of
     * {@code tokenizerDir}, which may be null) and returns the exporter.
     *
     * @param saveDtype     dtype of exported models (null: the config's torch_dtype, float32 for float64)
     * @param maxShardBytes largest safetensors shard
     */
    public static RunExport prepare(Path runDir, HfConfig config, Path tokenizerDir, String saveDtype,
                                    long maxShardBytes) {
        Path base = runDir.resolve(BASE_MODEL);
        try (AtomicDirectory out = AtomicDirectory.create(base)) {
            config.write(out.dir());
            HfModelWriter.copySideFiles(tokenizerDir, out.dir());
            out.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + base + ": " + e.getMessage(), e);
        }
        return new RunExport(runDir, config, writer(config, saveDtype, maxShardBytes));
    }

    /**
     * The exporter of a finished or interrupted run (reads {@code runDir/base-model/config.json}); arguments as for
     * {@link #prepare}.
     */
    public static RunExport open(Path runDir, String saveDtype, long maxShardBytes) {
        Path base = runDir.resolve(BASE_MODEL);
        if (!Files.isRegularFile(base.resolve("config.json"))) {
            throw new IllegalArgumentException(runDir + ": not a training run directory of prefixshare (no "
                    + BASE_MODEL + "/config.json)");
        }
        HfConfig config = HfConfig.read(base.resolve("config.json"));
        return new RunExport(runDir, config, writer(config, saveDtype, maxShardBytes));
    }

    private static HfModelWriter writer(HfConfig config, String saveDtype, long maxShardBytes) {
        String dtype = saveDtype != null ? saveDtype
                : config.torchDtype().equals("float64") ? "float32" : config.torchDtype();
        return HfModelWriter.of(dtype, maxShardBytes);
    }

    /** Writes {@code model}'s parameters as a Hugging Face directory at {@code dir} (replacing one there). */
    public Path export(DecoderModel model, Path dir) {
        return export(model.parameters(), dir);
    }

    /** Writes parameters (Hugging Face names) as a Hugging Face directory at {@code dir} (replacing one there). */
    public Path export(Map<String, INDArray> parameters, Path dir) {
        Map<String, long[]> shapes = config.decoder().parameterShapes();
        for (String name : shapes.keySet()) {
            if (!parameters.containsKey(name)) {
                throw new IllegalArgumentException("cannot export to " + dir + ": parameter '" + name + "' is "
                        + "missing (the checkpoint does not match " + runDir.resolve(BASE_MODEL) + "/config.json)");
            }
        }
        return writer.write(dir, config, shapes, parameters::get, runDir.resolve(BASE_MODEL), true);
    }
}
