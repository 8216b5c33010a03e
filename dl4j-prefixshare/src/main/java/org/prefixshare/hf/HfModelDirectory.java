package org.prefixshare.hf;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.hf.safetensors.SafetensorsCheckpoint;
import org.prefixshare.hf.safetensors.TensorInfo;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A Hugging Face model directory on disk, as {@code save_pretrained} writes it: {@code config.json}, the weights
 * ({@code model.safetensors}, or shards listed in {@code model.safetensors.index.json}), and usually
 * {@code tokenizer.json} and {@code tokenizer_config.json}. Opening reads and validates the config and the
 * safetensors headers; {@link #weights} then checks every tensor's name and shape against the config before a byte of
 * data is read, and {@link #loadModel} reads each parameter straight into its off-heap array.
 *
 * <p>Loading is three steps, each testable alone: {@link HfConfig} (config), {@link SafetensorsCheckpoint} (files),
 * {@link #weights} (names and shapes against the config).
 */
public final class HfModelDirectory implements AutoCloseable {

    /** Tensors a checkpoint may carry that are buffers, not parameters (old Llama checkpoints store RoPE's). */
    private static final String IGNORED_SUFFIX = "rotary_emb.inv_freq";

    private final Path dir;
    private final HfConfig config;
    private final SafetensorsCheckpoint checkpoint;

    private HfModelDirectory(Path dir, HfConfig config, SafetensorsCheckpoint checkpoint) {
        this.dir = dir;
        this.config = config;
        this.checkpoint = checkpoint;
    }

    /** Whether {@code path} looks like a model directory (a directory holding {@code config.json}). */
    public static boolean isModelDirectory(Path path) {
        return Files.isDirectory(path) && Files.isRegularFile(path.resolve("config.json"));
    }

    /** Opens {@code dir}: reads its config and validates its safetensors headers (no tensor data is read). */
    public static HfModelDirectory open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": not a directory (expected a Hugging Face model directory "
                    + "with config.json and model.safetensors)");
        }
        HfConfig config = HfConfig.read(dir.resolve("config.json"));
        return new HfModelDirectory(dir, config, SafetensorsCheckpoint.open(dir));
    }

    /** The directory. */
    public Path path() {
        return dir;
    }

    /** Its config (compute type FLOAT). */
    public HfConfig config() {
        return config;
    }

    /** The weights' files. */
    public SafetensorsCheckpoint checkpoint() {
        return checkpoint;
    }

    /** {@code tokenizer.json}, when the directory has one. */
    public Optional<Path> tokenizerJson() {
        return file("tokenizer.json");
    }

    /** {@code tokenizer_config.json}, when the directory has one. */
    public Optional<Path> tokenizerConfig() {
        return file("tokenizer_config.json");
    }

    private Optional<Path> file(String name) {
        Path p = dir.resolve(name);
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    /**
     * The checkpoint's parameters for {@code model} (this directory's config, perhaps with another compute type),
     * after checking that the checkpoint holds exactly the parameters the config describes with their shapes: a
     * missing, unexpected or misshapen tensor is an error naming it. With tied embeddings an {@code lm_head.weight} is
     * accepted only when it equals {@code model.embed_tokens.weight}; RoPE buffers ({@code *rotary_emb.inv_freq})
     * are ignored. Values are converted to the compute type while they are read (bf16 to float32 is exact).
     */
    public WeightSource weights(DecoderConfig model) {
        Map<String, long[]> expected = model.parameterShapes();
        Map<String, TensorInfo> present = checkpoint.tensors();
        TreeSet<String> missing = new TreeSet<>(expected.keySet());
        missing.removeAll(present.keySet());
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(dir + ": tensor '" + missing.first() + "' is missing"
                    + (missing.size() > 1 ? " (and " + (missing.size() - 1) + " more)" : "") + "; config.json "
                    + "describes a " + config.modelType() + " model with " + model.numLayers() + " layers"
                    + (model.tieWordEmbeddings() ? ", tied embeddings" : ", an lm_head.weight"));
        }
        for (TensorInfo t : present.values()) {
            long[] want = expected.get(t.name());
            if (want == null) {
                if (t.name().endsWith(IGNORED_SUFFIX)
                        || (t.name().equals(DecoderModel.LM_HEAD) && model.tieWordEmbeddings())) {
                    continue;
                }
                throw new IllegalArgumentException(checkpoint.fileOf(t.name()) + ": tensor '" + t.name()
                        + "' is not a parameter of the " + config.modelType() + " model config.json describes ("
                        + model.numLayers() + " layers" + (model.attentionBias() ? ", q/k/v biases" : ", no biases")
                        + ")");
            }
            if (!Arrays.equals(want, t.shape())) {
                throw new IllegalArgumentException(checkpoint.fileOf(t.name()) + ": tensor '" + t.name()
                        + "' has shape " + Arrays.toString(t.shape()) + ", config.json implies "
                        + Arrays.toString(want));
            }
            if (!t.dtype().isConvertibleFloat()) {
                throw new IllegalArgumentException(checkpoint.fileOf(t.name()) + ": tensor '" + t.name()
                        + "' has dtype " + t.dtype() + "; parameters must be F32, F16, BF16 or F64");
            }
        }
        if (model.tieWordEmbeddings() && present.containsKey(DecoderModel.LM_HEAD)) {
            requireTiedHeadEqual();
        }
        return (name, shape, type) -> {
            INDArray a = Nd4j.createUninitialized(type, shape, 'c');
            checkpoint.readInto(name, a);
            return a;
        };
    }

    private void requireTiedHeadEqual() {
        INDArray head = checkpoint.read(DecoderModel.LM_HEAD, DataType.FLOAT);
        INDArray embed = checkpoint.read(DecoderModel.EMBED, DataType.FLOAT);
        if (!head.equals(embed)) {
            throw new IllegalArgumentException(checkpoint.fileOf(DecoderModel.LM_HEAD) + ": tensor '"
                    + DecoderModel.LM_HEAD + "' differs from '" + DecoderModel.EMBED + "' but config.json says "
                    + "tie_word_embeddings: true (which one should the head use?)");
        }
    }

    /** The model with this directory's weights, computing in {@code computeType} (FLOAT on CPU). */
    public DecoderModel loadModel(DataType computeType, PrefixShareOps.Implementation implementation) {
        DecoderConfig c = config.decoder().withDataType(computeType);
        return DecoderModel.create(c, weights(c), implementation);
    }

    /**
     * Identifies these weights for caches of derived data (precomputed reference log-probs): the directory, and the
     * size and modification time of each weight file.
     */
    public String fingerprint() {
        StringBuilder b = new StringBuilder(dir.toAbsolutePath().normalize().toString());
        for (Path f : new TreeSet<>(checkpoint.files())) {
            try {
                b.append('|').append(f.getFileName()).append(':').append(Files.size(f)).append(':')
                        .append(Files.getLastModifiedTime(f).toMillis());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot stat " + f, e);
            }
        }
        return Integer.toHexString(b.toString().hashCode());
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
