package org.prefixshare.hf.safetensors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Writing then reading gives the same bytes; conversions on the way match the scalar rules; chunks join up. */
class SafetensorsRoundTripTest {

    private static final int DEFAULT_CHUNK = ChunkedCopy.chunkBytes;

    @TempDir
    Path dir;

    @AfterEach
    void restoreChunk() {
        ChunkedCopy.chunkBytes = DEFAULT_CHUNK;
    }

    /** The data bytes of the file, from the header length on disk (read independently of the reader). */
    private static byte[] dataOf(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return Arrays.copyOfRange(all, 8 + (int) n, all.length);
    }

    @ParameterizedTest
    @EnumSource(value = SafetensorsDtype.class, names = {"F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL"})
    void roundTripIsBitForBit(SafetensorsDtype dtype) throws IOException {
        long[] shape = {5, 7};
        byte[] bytes = TestBytes.random(35 * dtype.byteSize(), 11 + dtype.ordinal());
        if (dtype == SafetensorsDtype.BOOL) {
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (bytes[i] & 1);
            }
        }
        INDArray a = TestBytes.arrayOf(dtype.nd4jType(), shape, bytes);
        Path file = dir.resolve("rt.safetensors");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("a", a);
        tensors.put("scalar", TestBytes.arrayOf(dtype.nd4jType(), new long[0], Arrays.copyOf(bytes, dtype.byteSize())));
        tensors.put("empty", Nd4j.create(dtype.nd4jType(), new long[] {3, 0}, 'c'));
        SafetensorsWriter.write(file, tensors, dtype, Map.of("format", "pt"));

        byte[] data = dataOf(file);
        assertArrayEquals(bytes, Arrays.copyOf(data, bytes.length), "the file holds the array's bytes");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            INDArray back = f.read("a");
            assertEquals(dtype.nd4jType(), back.dataType());
            assertArrayEquals(shape, back.shape());
            assertArrayEquals(bytes, TestBytes.bytesOf(back));
            INDArray scalar = f.read("scalar");
            assertEquals(0, scalar.rank());
            assertArrayEquals(Arrays.copyOf(bytes, dtype.byteSize()), TestBytes.bytesOf(scalar));
            assertArrayEquals(new long[] {3, 0}, f.read("empty").shape());
        }
    }

    @Test
    void headerIsPaddedToEightAndKeepsTheGivenOrder() throws IOException {
        Path file = dir.resolve("h.safetensors");
        List<TensorSpec> specs = List.of(new TensorSpec("z", SafetensorsDtype.F32, new long[] {3}),
                new TensorSpec("a", SafetensorsDtype.BF16, new long[] {1}));
        try (SafetensorsWriter w = SafetensorsWriter.create(file, specs, Map.of("format", "pt"))) {
            w.write(Nd4j.createFromArray(1f, 2f, 3f));
            w.write(Nd4j.createFromArray(4f));
        }
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8);
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"z\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                + "\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]}}", header.stripTrailing());
        assertEquals(8 + n + 14, all.length);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("z", "a"), f.tensors().stream().map(TensorInfo::name).toList());
        }
    }

    @Test
    void bf16ReadsExactlyIntoFloatAndFloatWritesAsRoundedBf16() throws IOException {
        int n = 1000;
        byte[] bits = TestBytes.random(2 * n, 5);
        INDArray bf = TestBytes.arrayOf(DataType.BFLOAT16, new long[] {n}, bits);
        Path file = dir.resolve("bf.safetensors");
        SafetensorsWriter.write(file, Map.of("w", bf), SafetensorsDtype.BF16, null);
        ByteBuffer raw = ByteBuffer.wrap(bits).order(ByteOrder.LITTLE_ENDIAN);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.metadata().isEmpty());
            float[] got = f.read("w", DataType.FLOAT).data().asFloat();
            for (int i = 0; i < n; i++) {
                float want = DtypeConverter.bf16ToFloat(raw.getShort(2 * i));
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]), "element " + i);
            }
        }

        byte[] floatBits = TestBytes.random(4 * n, 6);
        INDArray f32 = TestBytes.arrayOf(DataType.FLOAT, new long[] {n}, floatBits);
        Path out = dir.resolve("f2bf.safetensors");
        SafetensorsWriter.write(out, Map.of("w", f32), SafetensorsDtype.BF16, null);
        ByteBuffer written = ByteBuffer.wrap(dataOf(out)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer src = ByteBuffer.wrap(floatBits).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(2 * n, written.capacity());
        for (int i = 0; i < n; i++) {
            assertEquals(DtypeConverter.floatToBf16(src.getFloat(4 * i)), written.getShort(2 * i), "element " + i);
        }
    }

    @Test
    void everyFloatConversionOnReadMatchesTheScalarRules() throws IOException {
        byte[] bits = TestBytes.random(4 * 64, 8);
        INDArray f32 = TestBytes.arrayOf(DataType.FLOAT, new long[] {8, 8}, bits);
        Path file = dir.resolve("all.safetensors");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (SafetensorsDtype d : List.of(SafetensorsDtype.F32, SafetensorsDtype.F16, SafetensorsDtype.BF16,
                SafetensorsDtype.F64)) {
            tensors.put(d.name(), f32);
        }
        List<TensorSpec> specs = tensors.keySet().stream()
                .map(k -> new TensorSpec(k, SafetensorsDtype.valueOf(k), new long[] {8, 8})).toList();
        try (SafetensorsWriter w = SafetensorsWriter.create(file, specs, null)) {
            for (int i = 0; i < specs.size(); i++) {
                w.write(f32);
            }
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            float[] src = f32.data().asFloat();
            for (TensorSpec s : specs) {
                for (DataType target : List.of(DataType.FLOAT, DataType.DOUBLE, DataType.HALF, DataType.BFLOAT16)) {
                    INDArray got = f.read(s.name(), target);
                    assertEquals(target, got.dataType());
                    ByteBuffer g = ByteBuffer.wrap(TestBytes.bytesOf(got)).order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < src.length; i++) {
                        float stored = stored(src[i], s.dtype());
                        String where = s.dtype() + " -> " + target + " element " + i;
                        switch (target) {
                            case FLOAT -> assertEquals(Float.floatToIntBits(stored),
                                    Float.floatToIntBits(g.getFloat(4 * i)), where);
                            case DOUBLE -> assertEquals(Double.doubleToLongBits(stored),
                                    Double.doubleToLongBits(g.getDouble(8 * i)), where);
                            case HALF -> assertEquals(DtypeConverter.floatToF16(stored), g.getShort(2 * i), where);
                            default -> assertEquals(DtypeConverter.floatToBf16(stored), g.getShort(2 * i), where);
                        }
                    }
                }
            }
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.read("F32", DataType.INT));
            assertEquals(Rule.UNSUPPORTED_DTYPE, e.rule());
        }
    }

    /** The float a value becomes once stored as {@code dtype} (F64 stores it exactly). */
    private static float stored(float v, SafetensorsDtype dtype) {
        return switch (dtype) {
            case F16 -> DtypeConverter.f16ToFloat(DtypeConverter.floatToF16(v));
            case BF16 -> DtypeConverter.bf16ToFloat(DtypeConverter.floatToBf16(v));
            default -> v;
        };
    }

    @Test
    void chunkedReadsAndWritesEqualWholeOnes() throws IOException {
        long[] shape = {13, 7};
        byte[] bits = TestBytes.random(4 * 91, 9);
        INDArray f32 = TestBytes.arrayOf(DataType.FLOAT, shape, bits);
        Path whole = dir.resolve("whole.safetensors");
        Path chunked = dir.resolve("chunked.safetensors");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("w", f32);
        SafetensorsWriter.write(whole, tensors, SafetensorsDtype.BF16, null);
        ChunkedCopy.chunkBytes = 12; // 3 floats or 6 bf16 per chunk; 91 elements end mid-chunk
        SafetensorsWriter.write(chunked, tensors, SafetensorsDtype.BF16, null);
        assertArrayEquals(Files.readAllBytes(whole), Files.readAllBytes(chunked));
        Path raw = dir.resolve("raw.safetensors");
        SafetensorsWriter.write(raw, tensors, SafetensorsDtype.F32, null);
        assertArrayEquals(bits, dataOf(raw));

        try (SafetensorsFile f = SafetensorsFile.open(chunked); SafetensorsFile r = SafetensorsFile.open(raw)) {
            byte[] chunkedBf16 = TestBytes.bytesOf(f.read("w"));
            byte[] chunkedFloat = TestBytes.bytesOf(f.read("w", DataType.FLOAT));
            byte[] chunkedRaw = TestBytes.bytesOf(r.read("w"));
            ChunkedCopy.chunkBytes = DEFAULT_CHUNK;
            assertArrayEquals(TestBytes.bytesOf(f.read("w")), chunkedBf16);
            assertArrayEquals(TestBytes.bytesOf(f.read("w", DataType.FLOAT)), chunkedFloat);
            assertArrayEquals(bits, chunkedRaw);
        }
    }

    @Test
    void readIntoAContiguousViewFillsOnlyIt() throws IOException {
        Path file = dir.resolve("v.safetensors");
        INDArray rows = Nd4j.arange(12).castTo(DataType.FLOAT).reshape(2, 6);
        SafetensorsWriter.write(file, Map.of("r", rows), SafetensorsDtype.BF16, null);
        INDArray big = Nd4j.zeros(DataType.FLOAT, 4, 6);
        INDArray view = big.get(NDArrayIndex.interval(1, 3), NDArrayIndex.all());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            f.readInto("r", view);
            assertEquals(rows, big.get(NDArrayIndex.interval(1, 3), NDArrayIndex.all()));
            assertEquals(0.0, big.getRow(0).sumNumber().doubleValue(), 0.0);
            assertEquals(0.0, big.getRow(3).sumNumber().doubleValue(), 0.0);

            SafetensorsException e = assertThrows(SafetensorsException.class,
                    () -> f.readInto("r", Nd4j.zeros(DataType.FLOAT, 6, 2)));
            assertEquals(Rule.SHAPE_MISMATCH, e.rule());
            INDArray column = Nd4j.zeros(DataType.FLOAT, 2, 12).get(NDArrayIndex.all(), NDArrayIndex.interval(0, 6));
            assertThrows(IllegalArgumentException.class, () -> f.readInto("r", column));
        }
    }

    @Test
    void arraysReadInsideAWorkspaceOutliveIt() {
        Path file = dir.resolve("ws.safetensors");
        INDArray w = Nd4j.createFromArray(1f, 2f, 3f);
        SafetensorsWriter.write(file, Map.of("w", w), SafetensorsDtype.F32, null);
        INDArray read;
        INDArray converted;
        try (SafetensorsFile f = SafetensorsFile.open(file);
             MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(
                     WorkspaceConfiguration.builder().initialSize(1 << 20).build(), "safetensors-test")) {
            read = f.read("w");
            converted = f.read("w", DataType.DOUBLE);
        }
        assertFalse(read.isAttached());
        assertFalse(converted.isAttached());
        assertEquals(w, read);
        assertEquals(w.castTo(DataType.DOUBLE), converted);
    }

    @Test
    void writesNonContiguousArraysByValue() throws IOException {
        INDArray m = Nd4j.arange(12).castTo(DataType.FLOAT).reshape(3, 4);
        INDArray transposed = m.transpose();
        Path file = dir.resolve("t.safetensors");
        SafetensorsWriter.write(file, Map.of("t", transposed), SafetensorsDtype.F32, null);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(transposed, f.read("t"));
        }
    }

    @Test
    void anIncompleteWriterLeavesNothing() {
        Path file = dir.resolve("inc.safetensors");
        List<TensorSpec> specs = List.of(new TensorSpec("a", SafetensorsDtype.F32, new long[] {2}),
                new TensorSpec("b", SafetensorsDtype.F32, new long[] {2}));
        SafetensorsWriter w = SafetensorsWriter.create(file, specs, null);
        w.write(Nd4j.createFromArray(1f, 2f));
        SafetensorsException shape = assertThrows(SafetensorsException.class,
                () -> w.write(Nd4j.createFromArray(1f, 2f, 3f)));
        assertEquals(Rule.SHAPE_MISMATCH, shape.rule());
        assertEquals("b", shape.tensor());
        IllegalStateException e = assertThrows(IllegalStateException.class, w::close);
        assertTrue(e.getMessage().contains("only 1 of 2") && e.getMessage().contains("'b'"), e.getMessage());
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(dir.resolve("inc.safetensors.tmp")));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.create(file,
                List.of(specs.get(0), specs.get(0)), null));
    }

    @Test
    void aRewriteReplacesTheFileAtomically() throws IOException {
        Path file = dir.resolve("re.safetensors");
        SafetensorsWriter.write(file, Map.of("a", Nd4j.createFromArray(1f)), SafetensorsDtype.F32, null);
        SafetensorsWriter.write(file, Map.of("b", Nd4j.createFromArray(2f, 3f)), SafetensorsDtype.F32, null);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("b"), f.tensors().stream().map(TensorInfo::name).toList());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    /**
     * A tensor stored after 2 GiB of data: file positions past 2^31 (the big tensor is a sparse hole, so this costs
     * neither disk nor memory).
     */
    @Test
    void readsATensorBeyondTwoGigabytes() throws IOException {
        long big = (1L << 31) + 8;
        String json = "{\"big\":{\"dtype\":\"U8\",\"shape\":[" + big + "],\"data_offsets\":[0," + big + "]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[" + big + "," + (big + 12) + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        Path file = TestBytes.file(dir, "sparse.safetensors", h.length, h, new byte[0]);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long dataStart = 8 + h.length;
            raf.setLength(dataStart + big + 12);
            raf.seek(dataStart + big);
            raf.write(TestBytes.floats(1.5f, -2f, 3.25f));
        }
        ChunkedCopy.chunkBytes = 8;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f}, f.read("w").data().asFloat());
            assertArrayEquals(new double[] {1.5, -2, 3.25}, f.read("w", DataType.DOUBLE).data().asDouble());
        }
    }

    /**
     * One tensor over 2 GiB read into memory and written back (2.1 GB of memory and disk; run with
     * {@code -Dsafetensors.bigTests=true}).
     */
    @Test
    @EnabledIfSystemProperty(named = "safetensors.bigTests", matches = "true")
    void readsAndWritesOneTensorOverTwoGigabytes() throws IOException {
        long n = (1L << 31) + 16;
        String json = "{\"big\":{\"dtype\":\"U8\",\"shape\":[" + n + "],\"data_offsets\":[0," + n + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        Path file = TestBytes.file(dir, "big.safetensors", h.length, h, new byte[0]);
        long[] marks = {0, (1L << 31) - 1, 1L << 31, n - 1};
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(8 + h.length + n);
            for (int i = 0; i < marks.length; i++) {
                raf.seek(8 + h.length + marks[i]);
                raf.write(10 + i);
            }
        }
        INDArray a;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            a = f.read("big");
        }
        for (int i = 0; i < marks.length; i++) {
            assertEquals(10 + i, a.getDouble(marks[i]), 0.0, "byte " + marks[i]);
        }
        assertEquals(0, a.getDouble(12345L), 0.0);
        Path out = dir.resolve("big-out.safetensors");
        SafetensorsWriter.write(out, Map.of("big", a), SafetensorsDtype.U8, null);
        long dataStart;
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            dataStart = f.dataStart();
        }
        try (RandomAccessFile raf = new RandomAccessFile(out.toFile(), "r")) {
            assertEquals(dataStart + n, raf.length());
            for (int i = 0; i < marks.length; i++) {
                raf.seek(dataStart + marks[i]);
                assertEquals(10 + i, raf.read());
            }
        }
    }
}
