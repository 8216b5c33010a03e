package org.prefixshare.hf.safetensors;

import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Moves tensor bytes between a file and an ND4J array's native memory in chunks, so that no tensor passes through
 * the Java heap and none is limited to 2 GB: a same-dtype copy reads or writes straight into or out of a window on
 * the array's memory; a converting copy goes through one direct scratch buffer of a chunk.
 */
final class ChunkedCopy {

    /** Bytes moved per read or write; small in tests to exercise the chunk boundaries. */
    static int chunkBytes = 16 << 20;

    /** One scratch chunk per thread, reused: converting a model's hundreds of tensors allocates it once. */
    private static final ThreadLocal<ByteBuffer> SCRATCH = new ThreadLocal<>();

    private ChunkedCopy() {
    }

    /**
     * Reads {@code bytes} bytes of dtype {@code from} at file position {@code position} into {@code target}, a dense
     * row-major array of as many elements, converting to the target's type when it differs.
     */
    static void fileToArray(Path file, FileChannel channel, long position, long bytes, SafetensorsDtype from,
                            INDArray target, String tensor) throws IOException {
        SafetensorsDtype to = SafetensorsDtype.of(target.dataType());
        long elements = bytes / from.byteSize();
        if (elements == 0) {
            return;
        }
        BytePointer memory = memoryOf(target);
        try {
            if (from == to) {
                for (long done = 0; done < bytes; ) {
                    int n = (int) Math.min(chunkBytes, bytes - done);
                    readFully(file, channel, window(memory, done, n), position + done, tensor);
                    done += n;
                }
            } else {
                int perChunk = Math.max(1, chunkBytes / Math.max(from.byteSize(), to.byteSize()));
                ByteBuffer scratch = scratch(perChunk * from.byteSize());
                for (long done = 0; done < elements; ) {
                    int n = (int) Math.min(perChunk, elements - done);
                    scratch.clear().limit(n * from.byteSize());
                    readFully(file, channel, scratch, position + done * from.byteSize(), tensor);
                    scratch.flip();
                    DtypeConverter.convert(scratch, from, window(memory, done * to.byteSize(), n * to.byteSize()),
                            to, n);
                    done += n;
                }
            }
            Nd4j.getAffinityManager().tagLocation(target, AffinityManager.Location.HOST);
        } finally {
            Reference.reachabilityFence(target);
        }
    }

    /**
     * Writes {@code source}, a dense row-major array, at the channel's position as dtype {@code to}, converting from
     * the array's type when it differs; returns the bytes written.
     */
    static long arrayToFile(INDArray source, SafetensorsDtype to, FileChannel channel) throws IOException {
        SafetensorsDtype from = SafetensorsDtype.of(source.dataType());
        long elements = source.isEmpty() ? 0 : source.length();
        if (elements == 0) {
            return 0;
        }
        Nd4j.getAffinityManager().ensureLocation(source, AffinityManager.Location.HOST);
        BytePointer memory = memoryOf(source);
        try {
            if (from == to) {
                long bytes = elements * from.byteSize();
                for (long done = 0; done < bytes; ) {
                    int n = (int) Math.min(chunkBytes, bytes - done);
                    writeFully(channel, window(memory, done, n));
                    done += n;
                }
            } else {
                int perChunk = Math.max(1, chunkBytes / Math.max(from.byteSize(), to.byteSize()));
                ByteBuffer scratch = scratch(perChunk * to.byteSize());
                for (long done = 0; done < elements; ) {
                    int n = (int) Math.min(perChunk, elements - done);
                    scratch.clear().limit(n * to.byteSize());
                    DtypeConverter.convert(window(memory, done * from.byteSize(), n * from.byteSize()), from,
                            scratch, to, n);
                    writeFully(channel, scratch);
                    done += n;
                }
            }
            return elements * to.byteSize();
        } finally {
            Reference.reachabilityFence(source);
        }
    }

    /** Whether {@code array}'s elements lie densely in row-major order (dimensions of size 1 may have any stride). */
    static boolean isDenseRowMajor(INDArray array) {
        if (array.isEmpty() || array.length() <= 1) {
            return true;
        }
        long[] shape = array.shape();
        long[] stride = array.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** Reads until {@code buffer} is full; the file ending first means it was truncated under us. */
    static void readFully(Path file, FileChannel channel, ByteBuffer buffer, long position, String tensor)
            throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                throw new SafetensorsException(Rule.TRUNCATED, file, tensor,
                        "the file ended at byte " + at + " while " + buffer.remaining() + " more bytes were due");
            }
            at += n;
        }
    }

    static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private static ByteBuffer scratch(int bytes) {
        ByteBuffer b = SCRATCH.get();
        if (b == null || b.capacity() < bytes) {
            b = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            SCRATCH.set(b);
        }
        return b;
    }

    /** The array's first element; a view's data buffer already starts at the view's offset. */
    private static BytePointer memoryOf(INDArray array) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("safetensors data is little-endian; this platform is not");
        }
        if (!isDenseRowMajor(array)) {
            throw new IllegalArgumentException("the array must be dense in row-major order; shape "
                    + Arrays.toString(array.shape()) + ", stride " + Arrays.toString(array.stride()) + ", order "
                    + array.ordering());
        }
        return new BytePointer(array.data().addressPointer());
    }

    /** A little-endian buffer over {@code length} bytes of native memory from {@code offset} (a long: past 2 GB). */
    private static ByteBuffer window(BytePointer memory, long offset, int length) {
        BytePointer at = memory.getPointer(offset);
        return at.capacity(length).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }
}
