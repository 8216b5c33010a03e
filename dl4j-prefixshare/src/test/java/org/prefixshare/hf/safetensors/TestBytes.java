package org.prefixshare.hf.safetensors;

import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/** Test helpers: safetensors files laid out byte by byte, and arrays' raw bytes through JavaCPP directly. */
final class TestBytes {

    private TestBytes() {
    }

    /** A file: 8-byte little-endian {@code n}, then {@code header}, then {@code data}. */
    static Path file(Path dir, String name, long n, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(n).put(header).put(data);
        Path p = dir.resolve(name);
        try {
            Files.write(p, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** A file whose header is {@code json} (UTF-8, its length as N) followed by {@code data}. */
    static Path file(Path dir, String name, String json, byte[] data) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return file(dir, name, h.length, h, data);
    }

    /** The raw bytes of a dense array, read through JavaCPP (not through the code under test). */
    static byte[] bytesOf(INDArray a) {
        int n = (int) (a.length() * a.dataType().width());
        byte[] out = new byte[n];
        if (n > 0) {
            new BytePointer(a.data().addressPointer()).capacity(n).get(out);
        }
        return out;
    }

    /** A new c-order array of {@code type} and {@code shape} holding exactly {@code bytes}. */
    static INDArray arrayOf(DataType type, long[] shape, byte[] bytes) {
        INDArray a = Nd4j.create(type, shape, 'c');
        if (bytes.length > 0) {
            new BytePointer(a.data().addressPointer()).capacity(bytes.length).put(bytes);
        }
        return a;
    }

    /** Random bytes, seeded. */
    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Little-endian bytes of floats. */
    static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    /** Little-endian bytes of 16-bit patterns. */
    static byte[] shorts(int... values) {
        ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putShort((short) v);
        }
        return b.array();
    }
}
