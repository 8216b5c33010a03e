package org.prefixshare.hf.safetensors;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a checkpoint in Hugging Face's {@code save_pretrained} layout, streaming: {@code model.safetensors}, or
 * shards planned by {@link ShardPlan} plus {@code model.safetensors.index.json}, written last. Tensors are handed
 * over one at a time in the declared order; each shard file is opened when its first tensor arrives and finished
 * (renamed from its {@code .tmp}) after its last.
 *
 * <pre>{@code
 * try (ShardedWriter w = ShardedWriter.open(dir, specs, ShardPlan.DEFAULT_MAX_SHARD_BYTES, "model",
 *         ShardedWriter.PT_FORMAT)) {
 *     for (TensorSpec s : specs) w.write(s.name(), arrays.get(s.name()));
 * }
 * }</pre>
 */
public final class ShardedWriter implements AutoCloseable {

    /** The {@code __metadata__} transformers writes in every shard. */
    public static final Map<String, String> PT_FORMAT = Map.of("format", "pt");

    private final Path dir;
    private final List<TensorSpec> tensors;
    private final ShardPlan plan;
    private final String baseName;
    private final Map<String, String> metadata;
    private final Map<String, Integer> shardOf = new HashMap<>();
    private final int[] lastTensorOfShard;
    private final Map<Integer, SafetensorsWriter> open = new HashMap<>();
    private int next;
    private boolean failed;
    private boolean closed;

    private ShardedWriter(Path dir, List<TensorSpec> tensors, ShardPlan plan, String baseName,
                          Map<String, String> metadata) {
        this.dir = dir;
        this.tensors = tensors;
        this.plan = plan;
        this.baseName = baseName;
        this.metadata = metadata;
        this.lastTensorOfShard = new int[plan.shards().size()];
        Map<String, Integer> order = new HashMap<>();
        for (int i = 0; i < tensors.size(); i++) {
            order.put(tensors.get(i).name(), i);
        }
        for (int s = 0; s < plan.shards().size(); s++) {
            for (TensorSpec t : plan.shards().get(s).tensors()) {
                shardOf.put(t.name(), s);
                lastTensorOfShard[s] = Math.max(lastTensorOfShard[s], order.get(t.name()));
            }
        }
    }

    /**
     * Plans the shards and prepares to write them into {@code dir} (created if absent).
     *
     * @param tensors       the tensors in the order they will be written
     * @param maxShardBytes the limit per shard ({@link ShardPlan#DEFAULT_MAX_SHARD_BYTES} is Hugging Face's)
     * @param baseName      {@code model}, or e.g. {@code adapter_model}
     * @param metadata      each shard's {@code __metadata__} ({@link #PT_FORMAT} as transformers writes), or null
     * @throws IllegalArgumentException when two tensors share a name
     */
    public static ShardedWriter open(Path dir, List<TensorSpec> tensors, long maxShardBytes, String baseName,
                                     Map<String, String> metadata) {
        List<TensorSpec> specs = List.copyOf(tensors);
        if (specs.stream().map(TensorSpec::name).distinct().count() != specs.size()) {
            throw new IllegalArgumentException(dir + ": a tensor name is declared twice");
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot create: " + e.getMessage(), e);
        }
        ShardPlan plan = ShardPlan.of(specs, maxShardBytes, baseName);
        return new ShardedWriter(dir, specs, plan, ShardPlan.baseName(baseName), metadata);
    }

    /** The plan: which tensor goes into which file. */
    public ShardPlan plan() {
        return plan;
    }

    /** The index file this writer writes when there are several shards ({@code model.safetensors.index.json}). */
    public Path indexFile() {
        return dir.resolve(ShardIndex.fileName(baseName));
    }

    /**
     * Writes tensor {@code name}, which must be the next one declared, converting as
     * {@link SafetensorsWriter#write(INDArray)} does.
     *
     * @throws IllegalStateException when {@code name} is not the next tensor declared
     */
    public void write(String name, INDArray value) {
        if (closed || failed) {
            throw new IllegalStateException(dir + ": the writer is " + (closed ? "closed" : "failed"));
        }
        if (next >= tensors.size() || !tensors.get(next).name().equals(name)) {
            throw new IllegalStateException(dir + ": tensor '" + name + "' written out of order; expected "
                    + (next >= tensors.size() ? "none (all written)" : "'" + tensors.get(next).name() + "'"));
        }
        int shard = shardOf.get(name);
        try {
            SafetensorsWriter w = open.get(shard);
            if (w == null) {
                ShardPlan.Shard s = plan.shards().get(shard);
                w = SafetensorsWriter.create(dir.resolve(s.fileName()), s.tensors(), metadata);
                open.put(shard, w);
            }
            w.write(value);
            next++;
            if (lastTensorOfShard[shard] == next - 1) {
                open.remove(shard).close();
            }
        } catch (SafetensorsException e) {
            throw e; // a wrong shape or dtype: nothing was written, the caller may retry
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        }
    }

    /**
     * Finishes: when every tensor was written, writes the index (several shards only), last. Otherwise removes the
     * shards' temporary files and, unless a write had failed, throws.
     *
     * @throws IllegalStateException naming the first tensor not written
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (failed || next < tensors.size()) {
            for (SafetensorsWriter w : new ArrayList<>(open.values())) {
                try {
                    w.close();
                } catch (IllegalStateException ignored) {
                    // incomplete by design: its temporary file is gone
                }
            }
            open.clear();
            if (!failed) {
                throw new IllegalStateException(dir + ": only " + next + " of " + tensors.size()
                        + " tensors were written; the next was '" + tensors.get(next).name() + "'");
            }
            return;
        }
        if (tensors.isEmpty()) {
            SafetensorsWriter.create(dir.resolve(plan.shards().get(0).fileName()), List.of(), metadata).close();
        }
        if (plan.sharded()) {
            ShardIndex.write(indexFile(), plan);
        }
    }
}
