package org.prefixshare.hf.safetensors;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which tensors go into which shard file, planned as Hugging Face's {@code save_pretrained} does
 * ({@code huggingface_hub.split_state_dict_into_shards_factory}): tensors taken in order; one larger than the limit
 * gets a shard of its own, placed when it is met; otherwise a tensor that would take the current shard over the
 * limit closes it and starts the next. One shard is named {@code <base>.safetensors}; several
 * {@code <base>-00001-of-0000N.safetensors} and so on, numbered in the order the shards were closed.
 *
 * @param shards    the shards, in file-number order
 * @param totalSize the bytes of all tensors ({@code metadata.total_size} of the index)
 */
public record ShardPlan(List<Shard> shards, long totalSize) {

    /** Hugging Face's default limit per shard, "5GB" = 5 x 10^9 bytes. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    /**
     * One shard file.
     *
     * @param fileName its file name
     * @param tensors  its tensors, in the order written
     * @param bytes    their bytes
     */
    public record Shard(String fileName, List<TensorSpec> tensors, long bytes) {
        public Shard {
            tensors = List.copyOf(tensors);
        }
    }

    public ShardPlan {
        shards = List.copyOf(shards);
    }

    /**
     * Plans shards of at most {@code maxShardBytes} each (a single larger tensor excepted).
     *
     * @param baseName the file base name, e.g. {@code model} or {@code adapter_model} (a {@code .safetensors}
     *                 suffix is dropped)
     */
    public static ShardPlan of(List<TensorSpec> tensors, long maxShardBytes, String baseName) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("the shard size limit must be positive, got " + maxShardBytes);
        }
        String base = baseName(baseName);
        List<List<TensorSpec>> groups = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long currentBytes = 0;
        long total = 0;
        for (TensorSpec t : tensors) {
            long size = t.byteLength();
            total = Math.addExact(total, size);
            if (size > maxShardBytes) {
                groups.add(List.of(t));
                continue;
            }
            if (currentBytes + size > maxShardBytes) {
                groups.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(t);
            currentBytes += size;
        }
        if (!current.isEmpty() || groups.isEmpty()) {
            groups.add(current);
        }
        List<Shard> shards = new ArrayList<>();
        for (int i = 0; i < groups.size(); i++) {
            String name = groups.size() == 1 ? base + ".safetensors"
                    : String.format(Locale.ROOT, "%s-%05d-of-%05d.safetensors", base, i + 1, groups.size());
            shards.add(new Shard(name, groups.get(i), groups.get(i).stream().mapToLong(TensorSpec::byteLength).sum()));
        }
        return new ShardPlan(shards, total);
    }

    /** Whether there is more than one shard (and so an index). */
    public boolean sharded() {
        return shards.size() > 1;
    }

    /** Tensor name to shard file name, sorted by tensor name: the index's {@code weight_map}. */
    public Map<String, String> weightMap() {
        Map<String, String> map = new TreeMap<>();
        for (Shard s : shards) {
            for (TensorSpec t : s.tensors()) {
                map.put(t.name(), s.fileName());
            }
        }
        return map;
    }

    /** The number of elements of all tensors (the index's {@code metadata.total_parameters}). */
    public long totalParameters() {
        return shards.stream().flatMap(s -> s.tensors().stream()).mapToLong(TensorSpec::elements).sum();
    }

    /**
     * A size as transformers' {@code max_shard_size} takes it: a plain number of bytes, or a number with a decimal
     * unit KB, MB, GB, TB (10^3 ...) or a binary unit KiB, MiB, GiB, TiB (2^10 ...), case-insensitive, e.g.
     * {@code 5GB} = 5,000,000,000 and {@code 500MiB} = 524,288,000.
     *
     * @throws IllegalArgumentException naming the text when it is none of these
     */
    public static long parseSize(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        String[][] units = {{"KIB", "1024"}, {"MIB", "1048576"}, {"GIB", "1073741824"}, {"TIB", "1099511627776"},
            {"KB", "1000"}, {"MB", "1000000"}, {"GB", "1000000000"}, {"TB", "1000000000000"}, {"B", "1"}, {"", "1"}};
        for (String[] unit : units) {
            if (s.endsWith(unit[0])) {
                try {
                    BigDecimal value = new BigDecimal(s.substring(0, s.length() - unit[0].length()).trim())
                            .multiply(new BigDecimal(unit[1]));
                    long bytes = value.setScale(0, RoundingMode.DOWN).longValueExact();
                    if (bytes > 0) {
                        return bytes;
                    }
                } catch (NumberFormatException | ArithmeticException e) {
                    // not this unit; fall through to the error
                }
                break;
            }
        }
        throw new IllegalArgumentException("size '" + text + "' is not a positive number of bytes with an optional"
                + " unit KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 5GB)");
    }

    /** {@code name} without a {@code .safetensors} suffix. */
    static String baseName(String name) {
        String suffix = ".safetensors";
        return name.endsWith(suffix) ? name.substring(0, name.length() - suffix.length()) : name;
    }
}
