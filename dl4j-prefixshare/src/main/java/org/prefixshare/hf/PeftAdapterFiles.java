package org.prefixshare.hf;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.hf.safetensors.SafetensorsCheckpoint;
import org.prefixshare.hf.safetensors.SafetensorsDtype;
import org.prefixshare.hf.safetensors.SafetensorsWriter;
import org.prefixshare.hf.safetensors.ShardedWriter;
import org.prefixshare.hf.safetensors.TensorInfo;
import org.prefixshare.io.AtomicDirectory;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A PEFT LoRA adapter directory: {@code adapter_config.json} ({@link LoraConfig}) and
 * {@code adapter_model.safetensors} with PEFT's tensor names ({@link LoraAdapters#aName}, {@link LoraAdapters#bName}),
 * float32. What {@code PeftModel.from_pretrained} reads and {@code save_pretrained} writes.
 */
public final class PeftAdapterFiles {

    /** The weights file of an adapter directory. */
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";

    private PeftAdapterFiles() {
    }

    /** An adapter read from disk: its config and its tensors (checked against the model). */
    public record Adapter(LoraConfig config, WeightSource weights) {
    }

    /** Whether {@code dir} holds an adapter ({@code adapter_config.json}). */
    public static boolean isAdapterDirectory(Path dir) {
        return Files.isRegularFile(dir.resolve(LoraConfig.CONFIG_FILE));
    }

    /**
     * Writes the adapter to {@code dir} (replacing one there) through a temporary sibling, so the directory appears
     * whole or not at all.
     */
    public static Path write(Path dir, LoraConfig config, Map<String, INDArray> tensors) {
        try (AtomicDirectory out = AtomicDirectory.create(dir)) {
            config.write(out.dir());
            SafetensorsWriter.write(out.dir().resolve(WEIGHTS_FILE), tensors, SafetensorsDtype.F32,
                    ShardedWriter.PT_FORMAT);
            return out.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write adapter " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads the adapter in {@code dir} for {@code model}: every tensor its config implies must be there with its
     * shape, and nothing else (a missing, unexpected or misshapen tensor is an error naming it).
     */
    public static Adapter read(Path dir, DecoderConfig model) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": not a directory (expected a PEFT adapter directory with "
                    + LoraConfig.CONFIG_FILE + " and " + WEIGHTS_FILE + ")");
        }
        LoraConfig config = LoraConfig.read(dir.resolve(LoraConfig.CONFIG_FILE));
        Map<String, long[]> expected = LoraAdapters.shapes(model, config);
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir, "adapter_model");
        Map<String, TensorInfo> present = ck.tensors();
        TreeSet<String> missing = new TreeSet<>(expected.keySet());
        missing.removeAll(present.keySet());
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(dir.resolve(WEIGHTS_FILE) + ": tensor '" + missing.first()
                    + "' is missing" + (missing.size() > 1 ? " (and " + (missing.size() - 1) + " more)" : "")
                    + "; " + LoraConfig.CONFIG_FILE + " targets " + config.orderedTargets() + " with r = "
                    + config.r());
        }
        for (TensorInfo t : present.values()) {
            long[] want = expected.get(t.name());
            if (want == null) {
                throw new IllegalArgumentException(dir.resolve(WEIGHTS_FILE) + ": tensor '" + t.name() + "' is not "
                        + "an adapter of this model (" + model.numLayers() + " layers, targets "
                        + config.orderedTargets() + ")");
            }
            if (!Arrays.equals(want, t.shape())) {
                throw new IllegalArgumentException(dir.resolve(WEIGHTS_FILE) + ": tensor '" + t.name() + "' has shape "
                        + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(want));
            }
        }
        return new Adapter(config, (name, shape, type) -> {
            INDArray a = Nd4j.createUninitialized(type, shape, 'c');
            ck.readInto(name, a);
            return a;
        });
    }

    /** The adapter tensors of a model as a name-ordered map (what {@link #write} takes). */
    public static Map<String, INDArray> ordered(DecoderConfig model, LoraConfig config, Map<String, INDArray> all) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (String n : LoraAdapters.shapes(model, config).keySet()) {
            INDArray v = all.get(n);
            if (v == null) {
                throw new IllegalArgumentException("adapter tensor " + n + " is missing");
            }
            m.put(n, v);
        }
        return m;
    }
}
