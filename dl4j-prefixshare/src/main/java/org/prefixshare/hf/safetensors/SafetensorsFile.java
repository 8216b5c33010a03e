package org.prefixshare.hf.safetensors;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One safetensors file, open for reading. {@link #open} reads and validates the header once, as Hugging Face's
 * reference implementation does (see {@link SafetensorsException.Rule} for the rules); the tensors are then cheap
 * {@link TensorInfo} views, and {@code read} copies one tensor straight from the file into an ND4J array's native
 * memory, in chunks, converting between F64, F32, F16 and BF16 when asked.
 *
 * <p>Reads of different tensors may run concurrently (positional reads on one channel). Arrays made by
 * {@code read} are allocated outside any open workspace.
 */
public final class SafetensorsFile implements AutoCloseable {

    private final Path path;
    private final FileChannel channel;
    private final Header header;
    private final Map<String, TensorInfo> byName;

    private SafetensorsFile(Path path, FileChannel channel, Header header) {
        this.path = path;
        this.channel = channel;
        this.header = header;
        Map<String, TensorInfo> map = new LinkedHashMap<>();
        for (TensorInfo t : header.tensors()) {
            map.put(t.name(), t);
        }
        this.byName = map;
    }

    /**
     * Opens {@code file} and validates its header.
     *
     * @throws SafetensorsException naming the file, the tensor and the rule when the file breaks the format
     * @throws UncheckedIOException when the file cannot be read
     */
    public static SafetensorsFile open(Path file) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(Rule.NOT_FOUND, file, null, "no such file");
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return new SafetensorsFile(file, channel, Header.read(file, channel));
        } catch (IOException | RuntimeException e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof IOException io) {
                throw new UncheckedIOException(file + ": cannot read the header: " + io.getMessage(), io);
            }
            throw (RuntimeException) e;
        }
    }

    /** The file. */
    public Path path() {
        return path;
    }

    /** The header's {@code __metadata__} strings (empty when absent). */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** The tensors in file order (by offset). */
    public List<TensorInfo> tensors() {
        return header.tensors();
    }

    /** The tensor named {@code name}, if the file holds it. */
    public Optional<TensorInfo> tensor(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The file offset where the data starts: 8 plus the header length. */
    public long dataStart() {
        return header.dataStart();
    }

    /**
     * Reads tensor {@code name} into a new array of the file's dtype (BF16 into BFLOAT16, I64 into LONG, ...).
     *
     * @throws SafetensorsException MISSING_TENSOR when there is no such tensor, UNSUPPORTED_DTYPE when ND4J has no
     *                              array type for its dtype
     */
    public INDArray read(String name) {
        TensorInfo t = require(name);
        if (!t.dtype().hasNd4jType()) {
            throw new SafetensorsException(Rule.UNSUPPORTED_DTYPE, path, name,
                    t.dtype() + " has no ND4J array type");
        }
        return read(t, t.dtype().nd4jType());
    }

    /**
     * Reads tensor {@code name} into a new array of type {@code target}. Between F64, F32, F16 and BF16 the values
     * are converted as PyTorch's {@code .to(dtype)} does (widening is exact, so BF16 to FLOAT loses nothing;
     * narrowing rounds to nearest even); other dtypes are read only into their own type.
     *
     * @throws SafetensorsException MISSING_TENSOR or UNSUPPORTED_DTYPE
     */
    public INDArray read(String name, DataType target) {
        return read(require(name), target);
    }

    /**
     * Reads tensor {@code name} into {@code target}, an existing array of the tensor's shape, dense in row-major
     * order (a contiguous view such as a row range of a larger matrix will do), of the tensor's type or, for a
     * float tensor, any of DOUBLE, FLOAT, HALF and BFLOAT16.
     *
     * @throws SafetensorsException MISSING_TENSOR, SHAPE_MISMATCH or UNSUPPORTED_DTYPE
     * @throws IllegalArgumentException when {@code target} is not dense in row-major order
     */
    public void readInto(String name, INDArray target) {
        TensorInfo t = require(name);
        if (!Arrays.equals(t.shape(), target.shape())) {
            throw new SafetensorsException(Rule.SHAPE_MISMATCH, path, name, "the tensor has shape "
                    + Arrays.toString(t.shape()) + ", the array " + Arrays.toString(target.shape()));
        }
        checkConvertible(t, target.dataType());
        try {
            ChunkedCopy.fileToArray(path, channel, header.dataStart() + t.begin(), t.byteLength(), t.dtype(), target,
                    name);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": tensor '" + name + "': read failed: " + e.getMessage(), e);
        }
    }

    private INDArray read(TensorInfo t, DataType target) {
        checkConvertible(t, target);
        long[] shape = t.shape();
        INDArray out;
        // weights outlive any workspace the caller may have open
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            out = t.elements() == 0 ? Nd4j.create(target, shape, 'c') : Nd4j.createUninitialized(target, shape, 'c');
        }
        readInto(t.name(), out);
        return out;
    }

    private void checkConvertible(TensorInfo t, DataType target) {
        if (t.dtype().hasNd4jType() && t.dtype().nd4jType() == target) {
            return;
        }
        boolean floats;
        try {
            floats = t.dtype().isConvertibleFloat() && SafetensorsDtype.of(target).isConvertibleFloat();
        } catch (IllegalArgumentException e) {
            floats = false;
        }
        if (!floats) {
            throw new SafetensorsException(Rule.UNSUPPORTED_DTYPE, path, t.name(), "cannot read " + t.dtype()
                    + " into " + target + " (conversions exist between F64, F32, F16 and BF16 only)");
        }
    }

    private TensorInfo require(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) {
            throw new SafetensorsException(Rule.MISSING_TENSOR, path, name,
                    "no such tensor among the file's " + byName.size());
        }
        return t;
    }

    /** Closes the file. */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": close failed: " + e.getMessage(), e);
        }
    }
}
