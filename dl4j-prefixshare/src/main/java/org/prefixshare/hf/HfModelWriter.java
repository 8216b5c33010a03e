package org.prefixshare.hf;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.safetensors.SafetensorsDtype;
import org.prefixshare.hf.safetensors.ShardedWriter;
import org.prefixshare.hf.safetensors.TensorSpec;
import org.prefixshare.io.AtomicDirectory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Writes a Hugging Face model directory the way transformers' {@code save_pretrained} does: {@code config.json},
 * {@code model.safetensors} or shards of at most {@link #maxShardBytes} with {@code model.safetensors.index.json}
 * (written last), and the tokenizer files copied from a source directory. The directory is assembled in a temporary
 * sibling and renamed into place, so a crash never leaves a half-written model under the final name.
 *
 * @param dtype         the tensors' dtype on disk (F32 or BF16; float32 values are rounded to nearest even)
 * @param maxShardBytes the largest shard (transformers' default "5GB" = 5,000,000,000 bytes)
 */
public record HfModelWriter(SafetensorsDtype dtype, long maxShardBytes) {

    /** Files copied from the source model directory when present (tokenizer and generation settings). */
    public static final List<String> SIDE_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.model", "generation_config.json", "chat_template.jinja");

    public HfModelWriter {
        if (dtype != SafetensorsDtype.F32 && dtype != SafetensorsDtype.BF16 && dtype != SafetensorsDtype.F16) {
            throw new IllegalArgumentException("models are saved as float32, bfloat16 or float16, got " + dtype);
        }
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("max shard size must be > 0 bytes, got " + maxShardBytes);
        }
    }

    /** The writer for a {@code --save-dtype} name ({@code float32}, {@code bfloat16}, {@code float16}). */
    public static HfModelWriter of(String saveDtype, long maxShardBytes) {
        return new HfModelWriter(dtypeOf(saveDtype), maxShardBytes);
    }

    /** The safetensors dtype of a torch dtype name. */
    public static SafetensorsDtype dtypeOf(String torchDtype) {
        return switch (torchDtype.toLowerCase(Locale.ROOT)) {
            case "float32", "float" -> SafetensorsDtype.F32;
            case "bfloat16", "bf16" -> SafetensorsDtype.BF16;
            case "float16", "half", "fp16" -> SafetensorsDtype.F16;
            default -> throw new IllegalArgumentException("save dtype must be float32, bfloat16 or float16, got '"
                    + torchDtype + "'");
        };
    }

    /** The torch dtype name of {@link #dtype} (what {@code config.json} declares). */
    public String torchDtype() {
        return switch (dtype) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        };
    }

    /**
     * Writes the model: {@code config} (its {@code torch_dtype} set to this writer's), the tensors named by
     * {@code names} in that order with their {@code shapes}, each fetched from {@code values} only when it is written
     * (so a caller can generate or load them one at a time), and the side files of {@code sideFilesFrom} (may be
     * null). {@code out} must not exist unless {@code replace}.
     */
    public Path write(Path out, HfConfig config, Map<String, long[]> shapes, Function<String, INDArray> values,
                      Path sideFilesFrom, boolean replace) {
        Path target = out.toAbsolutePath().normalize();
        if (Files.exists(target) && !replace) {
            throw new IllegalArgumentException(out + ": already exists; choose another output directory or delete it");
        }
        try (AtomicDirectory dir = AtomicDirectory.create(target)) {
            Path tmp = dir.dir();
            config.withTorchDtype(torchDtype()).write(tmp);
            copySideFiles(sideFilesFrom, tmp);
            List<TensorSpec> specs = new ArrayList<>();
            shapes.forEach((name, shape) -> specs.add(new TensorSpec(name, dtype, shape)));
            try (ShardedWriter w = ShardedWriter.open(tmp, specs, maxShardBytes, "model", ShardedWriter.PT_FORMAT)) {
                for (TensorSpec s : specs) {
                    w.write(s.name(), values.apply(s.name()));
                }
            }
            return dir.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write model directory " + out + ": " + e.getMessage(), e);
        }
    }

    /** Copies the tokenizer and generation files of {@code from} (when present) into {@code to}. */
    public static void copySideFiles(Path from, Path to) throws IOException {
        if (from == null) {
            return;
        }
        for (String f : SIDE_FILES) {
            Path src = from.resolve(f);
            if (Files.isRegularFile(src)) {
                Files.copy(src, to.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
