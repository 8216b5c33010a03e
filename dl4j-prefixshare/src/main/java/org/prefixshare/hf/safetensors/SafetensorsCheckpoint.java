package org.prefixshare.hf.safetensors;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The weights of a model directory: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json} (preferred when present), seen as one set of named tensors. Opening checks
 * every file's header and the index against the shards: every shard named exists, every tensor listed is in its
 * shard, no shard holds a tensor the index does not list for it, and {@code metadata.total_size}, when present, is
 * the tensors' byte count.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {

    private final Path dir;
    private final Path index;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> fileOf;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsCheckpoint(Path dir, Path index, List<SafetensorsFile> files) {
        this.dir = dir;
        this.index = index;
        this.files = List.copyOf(files);
        Map<String, SafetensorsFile> owners = new LinkedHashMap<>();
        Map<String, TensorInfo> all = new LinkedHashMap<>();
        for (SafetensorsFile f : files) {
            for (TensorInfo t : f.tensors()) {
                owners.put(t.name(), f);
                all.put(t.name(), t);
            }
        }
        this.fileOf = owners;
        this.tensors = Collections.unmodifiableMap(all);
    }

    /** Opens the {@code model} weights of {@code dir}. */
    public static SafetensorsCheckpoint open(Path dir) {
        return open(dir, "model");
    }

    /**
     * Opens the weights named {@code baseName} in {@code dir}: {@code <base>.safetensors.index.json} with its shards
     * when present, else {@code <base>.safetensors}.
     *
     * @param baseName e.g. {@code model} or {@code adapter_model} (a {@code .safetensors} suffix is dropped)
     * @throws SafetensorsException NOT_FOUND when neither file exists, MISSING_SHARD, INDEX_INVALID,
     *                              MISSING_TENSOR, UNEXPECTED_TENSOR, or any rule a file breaks
     */
    public static SafetensorsCheckpoint open(Path dir, String baseName) {
        String base = ShardPlan.baseName(baseName);
        Path indexFile = dir.resolve(ShardIndex.fileName(base));
        if (Files.isRegularFile(indexFile)) {
            return openSharded(dir, indexFile);
        }
        Path single = dir.resolve(base + ".safetensors");
        if (!Files.exists(single)) {
            throw new SafetensorsException(Rule.NOT_FOUND, dir, null,
                    "neither " + single.getFileName() + " nor " + indexFile.getFileName() + " is there");
        }
        return new SafetensorsCheckpoint(dir, null, List.of(SafetensorsFile.open(single)));
    }

    private static SafetensorsCheckpoint openSharded(Path dir, Path indexFile) {
        ShardIndex idx = ShardIndex.read(indexFile);
        Map<String, List<String>> listed = new TreeMap<>();
        idx.weightMap().forEach((tensor, shard) -> listed.computeIfAbsent(shard, s -> new ArrayList<>()).add(tensor));
        for (Map.Entry<String, List<String>> e : listed.entrySet()) {
            if (!Files.isRegularFile(dir.resolve(e.getKey()))) {
                throw new SafetensorsException(Rule.MISSING_SHARD, indexFile, e.getValue().get(0),
                        "shard " + e.getKey() + " (listed for " + e.getValue().size() + " tensors) is not in " + dir);
            }
        }
        if (listed.isEmpty()) {
            throw new SafetensorsException(Rule.INDEX_INVALID, indexFile, null, "'weight_map' lists no tensors");
        }
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            for (String shard : listed.keySet()) {
                opened.add(SafetensorsFile.open(dir.resolve(shard)));
            }
            long bytes = 0;
            int i = 0;
            for (String shard : listed.keySet()) {
                SafetensorsFile f = opened.get(i++);
                for (String name : listed.get(shard)) {
                    if (f.tensor(name).isEmpty()) {
                        throw new SafetensorsException(Rule.MISSING_TENSOR, f.path(), name,
                                indexFile.getFileName() + " lists it in this shard but the shard does not hold it");
                    }
                }
                for (TensorInfo t : f.tensors()) {
                    String expected = idx.weightMap().get(t.name());
                    if (!shard.equals(expected)) {
                        throw new SafetensorsException(Rule.UNEXPECTED_TENSOR, f.path(), t.name(),
                                indexFile.getFileName() + (expected == null ? " does not list it"
                                        : " lists it in " + expected + ", not in this shard"));
                    }
                    bytes += t.byteLength();
                }
            }
            if (idx.totalSize() != null && idx.totalSize() != bytes) {
                throw new SafetensorsException(Rule.INDEX_INVALID, indexFile, null, "metadata.total_size is "
                        + idx.totalSize() + " but the tensors listed hold " + bytes + " bytes");
            }
            return new SafetensorsCheckpoint(dir, indexFile, opened);
        } catch (RuntimeException e) {
            for (SafetensorsFile f : opened) {
                f.close();
            }
            throw e;
        }
    }

    /** The model directory. */
    public Path directory() {
        return dir;
    }

    /** The index file, when the checkpoint is sharded. */
    public Optional<Path> index() {
        return Optional.ofNullable(index);
    }

    /** The safetensors files, in file-name order. */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /** Every tensor by name, file by file in file-name order and in file order within each. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}, if there is one. */
    public Optional<TensorInfo> tensor(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** The bytes of all tensors. */
    public long totalBytes() {
        return tensors.values().stream().mapToLong(TensorInfo::byteLength).sum();
    }

    /** The metadata of the first file ({@code {"format": "pt"}} for transformers' checkpoints). */
    public Map<String, String> metadata() {
        return files.get(0).metadata();
    }

    /**
     * The file holding tensor {@code name}.
     *
     * @throws SafetensorsException MISSING_TENSOR
     */
    public Path fileOf(String name) {
        return owner(name).path();
    }

    /** Reads tensor {@code name} in its own dtype; see {@link SafetensorsFile#read(String)}. */
    public INDArray read(String name) {
        return owner(name).read(name);
    }

    /** Reads tensor {@code name} as {@code target}; see {@link SafetensorsFile#read(String, DataType)}. */
    public INDArray read(String name, DataType target) {
        return owner(name).read(name, target);
    }

    /** Reads tensor {@code name} into {@code target}; see {@link SafetensorsFile#readInto(String, INDArray)}. */
    public void readInto(String name, INDArray target) {
        owner(name).readInto(name, target);
    }

    private SafetensorsFile owner(String name) {
        SafetensorsFile f = fileOf.get(name);
        if (f == null) {
            throw new SafetensorsException(Rule.MISSING_TENSOR, index != null ? index : files.get(0).path(), name,
                    "no such tensor among the checkpoint's " + tensors.size());
        }
        return f;
    }

    /** Closes every file. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
