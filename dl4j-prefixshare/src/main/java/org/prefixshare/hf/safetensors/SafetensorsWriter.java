package org.prefixshare.hf.safetensors;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes one safetensors file, streaming: the header is written first from the declared tensors, then each tensor
 * as it is handed over, straight from its array's native memory, so that no more than one tensor (and a chunk of
 * scratch) needs to be in memory at a time.
 *
 * <p>The bytes go to {@code <file>.tmp}, renamed to {@code <file>} by {@link #close()} once every tensor has been
 * written; a writer closed early, or after a failed write, deletes the temporary file and leaves {@code <file>}
 * untouched. The layout is the reference writer's: compact JSON header with {@code __metadata__} first, padded with
 * spaces so that the data starts at a multiple of 8; tensors in the order given, offsets contiguous.
 *
 * <pre>{@code
 * try (SafetensorsWriter w = SafetensorsWriter.create(file, specs, Map.of("format", "pt"))) {
 *     for (TensorSpec s : specs) w.write(arrays.get(s.name()));
 * }
 * }</pre>
 */
public final class SafetensorsWriter implements AutoCloseable {

    private final Path file;
    private final Path tmp;
    private final FileChannel channel;
    private final List<TensorSpec> tensors;
    private final long dataStart;
    private long dataWritten;
    private int next;
    private boolean failed;
    private boolean closed;

    private SafetensorsWriter(Path file, Path tmp, FileChannel channel, List<TensorSpec> tensors, long dataStart) {
        this.file = file;
        this.tmp = tmp;
        this.channel = channel;
        this.tensors = tensors;
        this.dataStart = dataStart;
    }

    /**
     * Creates {@code <file>.tmp} and writes the header for {@code tensors}, in this order.
     *
     * @param metadata the {@code __metadata__} strings; null or empty for none (transformers writes
     *                 {@code {"format": "pt"}})
     * @throws IllegalArgumentException when two tensors share a name or the header would exceed 100,000,000 bytes
     */
    public static SafetensorsWriter create(Path file, List<TensorSpec> tensors, Map<String, String> metadata) {
        List<TensorSpec> specs = List.copyOf(tensors);
        Set<String> names = new HashSet<>();
        for (TensorSpec s : specs) {
            if (!names.add(s.name())) {
                throw new IllegalArgumentException(file + ": tensor '" + s.name() + "' declared twice");
            }
        }
        byte[] header = Header.encode(specs, metadata);
        if (header.length > Header.MAX_LENGTH) {
            throw new IllegalArgumentException(file + ": the header would take " + header.length
                    + " bytes, over the format's limit of " + Header.MAX_LENGTH);
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        FileChannel channel = null;
        try {
            channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
            ByteBuffer start = ByteBuffer.allocate(Header.LENGTH_BYTES + header.length).order(ByteOrder.LITTLE_ENDIAN);
            start.putLong(header.length).put(header).flip();
            ChunkedCopy.writeFully(channel, start);
            return new SafetensorsWriter(file, tmp, channel, specs, Header.LENGTH_BYTES + header.length);
        } catch (IOException e) {
            deleteQuietly(channel, tmp, e);
            throw new UncheckedIOException(tmp + ": cannot write: " + e.getMessage(), e);
        }
    }

    /**
     * Writes the file in one go: the tensors in the map's iteration order, each stored as {@code dtype}.
     *
     * @param metadata the {@code __metadata__} strings; null or empty for none
     */
    public static void write(Path file, Map<String, INDArray> tensors, SafetensorsDtype dtype,
                             Map<String, String> metadata) {
        List<TensorSpec> specs = new ArrayList<>();
        tensors.forEach((name, value) -> specs.add(new TensorSpec(name, dtype, value.shape())));
        try (SafetensorsWriter w = create(file, specs, metadata)) {
            for (INDArray value : tensors.values()) {
                w.write(value);
            }
        }
    }

    /** The tensors declared, in file order. */
    public List<TensorSpec> tensors() {
        return tensors;
    }

    /** The next tensor to be written, or null when all have been. */
    public TensorSpec next() {
        return next < tensors.size() ? tensors.get(next) : null;
    }

    /**
     * Writes the next declared tensor from {@code value}, converting from the array's type to the declared dtype
     * (between DOUBLE, FLOAT, HALF and BFLOAT16, rounding to nearest even) when they differ. An array that is not
     * dense in row-major order is copied first.
     *
     * @throws SafetensorsException SHAPE_MISMATCH or UNSUPPORTED_DTYPE (nothing is written then)
     * @throws IllegalStateException when every declared tensor has been written, or the writer is closed
     */
    public void write(INDArray value) {
        if (closed || failed) {
            throw new IllegalStateException(file + ": the writer is " + (closed ? "closed" : "failed"));
        }
        TensorSpec spec = next();
        if (spec == null) {
            throw new IllegalStateException(file + ": all " + tensors.size() + " declared tensors are written");
        }
        if (!Arrays.equals(spec.shape(), value.shape())) {
            throw new SafetensorsException(Rule.SHAPE_MISMATCH, file, spec.name(), "declared "
                    + Arrays.toString(spec.shape()) + ", the array has " + Arrays.toString(value.shape()));
        }
        SafetensorsDtype from = sourceDtype(spec, value);
        INDArray dense = ChunkedCopy.isDenseRowMajor(value) ? value : value.dup('c');
        try {
            long written = ChunkedCopy.arrayToFile(dense, spec.dtype(), channel);
            if (written != spec.byteLength()) {
                throw new IllegalStateException(file + ": tensor '" + spec.name() + "': wrote " + written
                        + " bytes, expected " + spec.byteLength() + " (" + from + " to " + spec.dtype() + ")");
            }
            dataWritten += written;
            next++;
        } catch (IOException e) {
            failed = true;
            throw new UncheckedIOException(tmp + ": tensor '" + spec.name() + "': write failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        }
    }

    private SafetensorsDtype sourceDtype(TensorSpec spec, INDArray value) {
        SafetensorsDtype from;
        try {
            from = SafetensorsDtype.of(value.dataType());
        } catch (IllegalArgumentException e) {
            throw new SafetensorsException(Rule.UNSUPPORTED_DTYPE, file, spec.name(), e.getMessage());
        }
        if (from != spec.dtype() && !(from.isConvertibleFloat() && spec.dtype().isConvertibleFloat())) {
            throw new SafetensorsException(Rule.UNSUPPORTED_DTYPE, file, spec.name(), "cannot store a "
                    + value.dataType() + " array as " + spec.dtype()
                    + " (conversions exist between F64, F32, F16 and BF16 only)");
        }
        return from;
    }

    /**
     * Finishes the file: renames {@code <file>.tmp} to {@code <file>} when every declared tensor was written.
     * Otherwise deletes the temporary file and, unless a write had failed, throws.
     *
     * @throws IllegalStateException naming the first tensor not written
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        boolean complete = !failed && next == tensors.size();
        if (!complete) {
            deleteQuietly(channel, tmp, null);
            if (!failed) {
                throw new IllegalStateException(file + ": only " + next + " of " + tensors.size()
                        + " declared tensors were written; the next was '" + tensors.get(next).name() + "'");
            }
            return;
        }
        try {
            channel.close();
            long size = Files.size(tmp);
            if (size != dataStart + dataWritten) {
                throw new IllegalStateException(tmp + ": " + size + " bytes, expected " + (dataStart + dataWritten));
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteQuietly(null, tmp, e);
            throw new UncheckedIOException(file + ": cannot finish: " + e.getMessage(), e);
        }
    }

    private static void deleteQuietly(FileChannel channel, Path tmp, Exception cause) {
        try {
            if (channel != null) {
                channel.close();
            }
            Files.deleteIfExists(tmp);
        } catch (IOException e) {
            if (cause != null) {
                cause.addSuppressed(e);
            }
        }
    }
}
