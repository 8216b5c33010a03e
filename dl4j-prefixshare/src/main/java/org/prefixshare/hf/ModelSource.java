package org.prefixshare.hf;

import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a command's {@code --model} names: a Hugging Face model directory (its config, weights and tokenizer) or a
 * preset architecture with seeded random weights (HF's initialisation). One place decides, so {@code train},
 * {@code score} and the notebooks read models alike.
 *
 * @param name        what the user gave (a directory or a preset name)
 * @param config      the architecture in Hugging Face's keys, compute type set
 * @param weights     where the parameters come from
 * @param fingerprint identifies the weights for caches of derived data (precomputed reference log-probs)
 * @param directory   the model directory, or null for a preset
 */
public record ModelSource(String name, HfConfig config, WeightSource weights, String fingerprint, Path directory) {

    /**
     * Resolves {@code model}: an existing directory is opened as a Hugging Face model directory (config and headers
     * validated, names and shapes checked); anything else must be a preset name (random weights from {@code seed}).
     */
    public static ModelSource resolve(String model, DataType computeType, long seed) {
        Path p = Path.of(model);
        if (Files.isDirectory(p)) {
            HfModelDirectory dir = HfModelDirectory.open(p);
            HfConfig c = dir.config().withComputeType(computeType);
            return new ModelSource(model, c, dir.weights(c.decoder()), "hf:" + dir.fingerprint(), p);
        }
        if (Files.isRegularFile(p) && p.getFileName().toString().endsWith(".json")) {
            HfConfig c = HfConfig.read(p).withComputeType(computeType);
            return new ModelSource(model, c, WeightSource.random(seed, DecoderModel.INIT_STD),
                    "random:" + c.toJson().hashCode() + ":" + seed, null);
        }
        if (!DecoderConfig.PRESETS.contains(model)) {
            throw new IllegalArgumentException("--model '" + model + "' is neither a Hugging Face model directory "
                    + "(with config.json and model.safetensors), a config.json file, nor a preset "
                    + DecoderConfig.PRESETS);
        }
        HfConfig c = HfConfig.preset(model).withComputeType(computeType);
        return new ModelSource(model, c, WeightSource.random(seed, DecoderModel.INIT_STD),
                "preset:" + model + ":" + seed, null);
    }

    /** The architecture with its compute type. */
    public DecoderConfig decoder() {
        return config.decoder();
    }

    /** The model directory's {@code tokenizer.json}, when the model is a directory that has one. */
    public Optional<Path> tokenizerJson() {
        return sideFile("tokenizer.json");
    }

    /** The model directory's {@code tokenizer_config.json}, when there is one. */
    public Optional<Path> tokenizerConfig() {
        return sideFile("tokenizer_config.json");
    }

    private Optional<Path> sideFile(String file) {
        if (directory == null) {
            return Optional.empty();
        }
        Path f = directory.resolve(file);
        return Files.isRegularFile(f) ? Optional.of(f) : Optional.empty();
    }

    /**
     * This source for a config whose vocabulary was widened to a tokenizer's (presets only: a checkpoint's embedding
     * rows are fixed, and a tokenizer that needs more is an error).
     */
    public ModelSource withVocabSize(int vocab) {
        if (vocab == decoder().vocabSize()) {
            return this;
        }
        if (directory != null) {
            throw new IllegalArgumentException(directory + ": the tokenizer has " + vocab + " tokens but the model's "
                    + "embedding has " + decoder().vocabSize() + " rows (vocab_size); ids beyond them have no "
                    + "embedding. Use the model's own tokenizer");
        }
        HfConfig c = HfConfig.of(config.modelType(), decoder().withVocabSize(vocab), config.torchDtype(), 4096, -1,
                -1);
        return new ModelSource(name, c, weights, fingerprint + ":v" + vocab, null);
    }

    /** Builds the model (parameters read or generated one at a time, off-heap). */
    public DecoderModel build(PrefixShareOps.Implementation implementation) {
        return DecoderModel.create(decoder(), weights, implementation);
    }
}
