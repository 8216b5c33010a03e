package org.prefixshare.hf.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every rule of the header, each on a file built byte by byte; and files laid out as the format's docs show. */
class SafetensorsValidationTest {

    @TempDir
    Path dir;

    /** Opening {@code file} fails with {@code rule}; the one-line message names the file, the tensor and the rule. */
    private static SafetensorsException refused(Path file, Rule rule, String tensor) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(file).close());
        assertEquals(rule, e.rule(), e.getMessage());
        assertEquals(file, e.file());
        assertEquals(tensor, e.tensor());
        String named = tensor == null ? "" : ": tensor '" + tensor.replace("\n", "\\u000a") + "'";
        String prefix = file + named + ": " + rule.words() + ": ";
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    private Path file(String json, byte[] data) {
        return TestBytes.file(dir, "x.safetensors", json, data);
    }

    private static final String ONE_F32 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    @Test
    void aValidFileOpens() {
        try (SafetensorsFile f = SafetensorsFile.open(file(ONE_F32, new byte[8]))) {
            assertEquals(List.of(new TensorInfo("w", SafetensorsDtype.F32, new long[] {2}, 0, 8)), f.tensors());
        }
    }

    // ---- length and encoding ----

    @Test
    void truncatedBeforeTheHeaderLength() throws IOException {
        Path p = dir.resolve("short.safetensors");
        Files.write(p, new byte[] {10, 0, 0, 0, 0});
        assertTrue(refused(p, Rule.TRUNCATED, null).getMessage().contains("5 bytes"));
    }

    @Test
    void truncatedData() {
        Path p = file(ONE_F32, new byte[6]);
        assertTrue(refused(p, Rule.TRUNCATED, "w").getMessage().contains("need 8 data bytes"));
    }

    @Test
    void headerLengthBeyondTheFile() {
        byte[] h = ONE_F32.getBytes(StandardCharsets.UTF_8);
        Path p = TestBytes.file(dir, "x.safetensors", 1000, h, new byte[8]);
        assertTrue(refused(p, Rule.HEADER_OUTSIDE_FILE, null).getMessage().contains("header length 1000"));
    }

    @Test
    void headerLengthOverTheLimit() {
        byte[] h = ONE_F32.getBytes(StandardCharsets.UTF_8);
        refused(TestBytes.file(dir, "a.safetensors", 100_000_001L, h, new byte[8]), Rule.HEADER_TOO_LARGE, null);
        SafetensorsException e = refused(TestBytes.file(dir, "b.safetensors", -1L, h, new byte[8]),
                Rule.HEADER_TOO_LARGE, null);
        assertTrue(e.getMessage().contains("18446744073709551615"), "read as unsigned: " + e.getMessage());
    }

    @Test
    void headerNotUtf8() {
        byte[] h = "{\"w\u00ff\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        SafetensorsException e = refused(TestBytes.file(dir, "x.safetensors", h.length, h, new byte[0]),
                Rule.HEADER_NOT_UTF8, null);
        assertTrue(e.getMessage().contains("0xff at header byte 3"), e.getMessage());
    }

    @Test
    void headerNotAJsonObject() {
        refused(file("[1, 2]", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null);
        refused(file(" {}", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null); // the format: MUST begin with '{'
        refused(file("", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null);
        refused(file("{\"w\":", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null);
        refused(file("{}{}", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null);
        refused(file("{}\0\0", new byte[0]), Rule.HEADER_NOT_JSON_OBJECT, null);
        assertTrue(SafetensorsFile.open(file("{}  \n ", new byte[0])).tensors().isEmpty(), "whitespace padding");
    }

    // ---- keys and entries ----

    @Test
    void duplicateKeys() {
        String twice = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        assertTrue(refused(file(twice, new byte[8]), Rule.DUPLICATE_KEY, "w").getMessage().contains("twice"));
        String field = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}";
        refused(file(field, new byte[4]), Rule.DUPLICATE_KEY, "w");
        String meta = "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}";
        refused(file(meta, new byte[0]), Rule.DUPLICATE_KEY, null);
    }

    @Test
    void badMetadata() {
        SafetensorsException e = refused(file("{\"__metadata__\":{\"format\":\"pt\",\"n\":1}}", new byte[0]),
                Rule.BAD_METADATA, null);
        assertTrue(e.getMessage().contains("'n' is an integer, not a string"), e.getMessage());
        refused(file("{\"__metadata__\":[\"pt\"]}", new byte[0]), Rule.BAD_METADATA, null);
        refused(file("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", new byte[0]), Rule.BAD_METADATA, null);
        try (SafetensorsFile f = SafetensorsFile.open(file("{\"__metadata__\":null}", new byte[0]))) {
            assertTrue(f.metadata().isEmpty(), "null metadata is none, as the reference's Option reads it");
        }
    }

    @Test
    void unknownDtype() {
        SafetensorsException e = refused(file(ONE_F32.replace("F32", "F4"), new byte[8]), Rule.UNKNOWN_DTYPE, "w");
        assertTrue(e.getMessage().contains("'F4'"), e.getMessage());
        refused(file(ONE_F32.replace("F32", "f32"), new byte[8]), Rule.UNKNOWN_DTYPE, "w");
    }

    @Test
    void badEntries() {
        refused(file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file("{\"w\":\"F32\"}", new byte[0]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("[2]", "[-2]"), new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("[2]", "[2.0]"), new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("[2]", "[\"2\"]"), new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("[2]", "[99999999999999999999]"), new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("[0,8]", "[0,8,8]"), new byte[8]), Rule.BAD_ENTRY, "w");
        refused(file(ONE_F32.replace("\"F32\"", "32"), new byte[8]), Rule.BAD_ENTRY, "w");
        try (SafetensorsFile f = SafetensorsFile.open(file(ONE_F32.replace("{\"dtype\"",
                "{\"extra\":{\"x\":[1]},\"dtype\""), new byte[8]))) {
            assertEquals(1, f.tensors().size(), "unknown fields are ignored, as the reference's deserializer does");
        }
    }

    // ---- offsets and sizes ----

    private static String two(String a, String b) {
        return "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + a + "},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + b + "}}";
    }

    @Test
    void overlappingOffsets() {
        SafetensorsException e = refused(file(two("[0,8]", "[4,12]"), new byte[12]), Rule.OFFSETS_NOT_CONTIGUOUS,
                "b");
        assertTrue(e.getMessage().contains("starts at byte 4 but the previous tensor 'a' ends at 8 (they overlap)"),
                e.getMessage());
    }

    @Test
    void gappedOffsets() {
        SafetensorsException e = refused(file(two("[0,8]", "[12,20]"), new byte[20]), Rule.OFFSETS_NOT_CONTIGUOUS,
                "b");
        assertTrue(e.getMessage().contains("a gap of 4 bytes"), e.getMessage());
    }

    @Test
    void offsetsNotStartingAtZero() {
        SafetensorsException e = refused(file(two("[4,12]", "[12,20]"), new byte[20]), Rule.OFFSETS_NOT_CONTIGUOUS,
                "a");
        assertTrue(e.getMessage().contains("starts at byte 4, not 0"), e.getMessage());
        refused(file(ONE_F32.replace("[0,8]", "[8,0]"), new byte[8]), Rule.OFFSETS_NOT_CONTIGUOUS, "w");
    }

    @Test
    void offsetsInAnyOrderInTheJsonAreSortedIntoFileOrder() {
        try (SafetensorsFile f = SafetensorsFile.open(file(two("[8,16]", "[0,8]"), new byte[16]))) {
            assertEquals(List.of("b", "a"), f.tensors().stream().map(TensorInfo::name).toList());
        }
    }

    @Test
    void shapeAndBytesMismatch() {
        SafetensorsException e = refused(file(ONE_F32.replace("[2]", "[3]"), new byte[8]), Rule.SIZE_MISMATCH, "w");
        assertTrue(e.getMessage().contains("hold 8 bytes but shape [3] of F32 needs 12"), e.getMessage());
    }

    @Test
    void sizeOverflow() {
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}";
        assertTrue(refused(file(json, new byte[0]), Rule.SIZE_MISMATCH, "w").getMessage().contains("overflows"));
        String bytes = "{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}";
        refused(file(bytes, new byte[0]), Rule.SIZE_MISMATCH, "w");
    }

    @Test
    void trailingBytes() {
        SafetensorsException e = refused(file(ONE_F32, new byte[11]), Rule.FILE_SIZE_MISMATCH, null);
        assertTrue(e.getMessage().contains("3 bytes follow the last tensor 'w'"), e.getMessage());
    }

    @Test
    void emptyAndRankZeroTensorsAreValid() {
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        try (SafetensorsFile f = SafetensorsFile.open(file(json, TestBytes.floats(2.5f)))) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            INDArray e = f.read("e");
            assertTrue(e.isEmpty());
            assertArrayEquals(new long[] {0, 3}, e.shape());
            INDArray s = f.read("s");
            assertEquals(0, s.rank());
            assertEquals(2.5f, s.getFloat(0), 0f);
        }
    }

    @Test
    void messagesStayOnOneLine() {
        String json = "{\"bad\\nname\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
        SafetensorsException e = refused(file(json, new byte[8]), Rule.SIZE_MISMATCH, "bad\nname");
        assertTrue(e.getMessage().contains("tensor 'bad\\u000aname'"), e.getMessage());
    }

    @Test
    void missingFileAndMissingTensor() {
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> SafetensorsFile.open(dir.resolve("none.safetensors")));
        assertEquals(Rule.NOT_FOUND, e.rule());
        try (SafetensorsFile f = SafetensorsFile.open(file(ONE_F32, new byte[8]))) {
            SafetensorsException m = assertThrows(SafetensorsException.class, () -> f.read("v"));
            assertEquals(Rule.MISSING_TENSOR, m.rule());
            assertEquals("v", m.tensor());
        }
    }

    // ---- files laid out as the format's documentation shows ----

    /** The example of safetensors' own docs: {@code <} (N = 60), the header, 16 bytes of data. */
    @Test
    void readsTheDocumentedExample() {
        String header = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        assertEquals(60, header.length());
        byte[] data = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff};
        try (SafetensorsFile f = SafetensorsFile.open(file(header, data))) {
            assertEquals(68, f.dataStart());
            INDArray t = f.read("test");
            assertEquals(DataType.INT, t.dataType());
            assertArrayEquals(new long[] {2, 2}, t.shape());
            assertArrayEquals(new int[] {1, 2, 3, -1}, t.data().asInt());
        }
    }

    /** Known little-endian bit patterns: F32 1.0 = 00 00 80 3F, -2.5 = 00 00 20 C0; BF16 the upper halves. */
    @Test
    void readsKnownBitPatterns() {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]}}";
        byte[] data = {0, 0, (byte) 0x80, 0x3f, 0, 0, 0x20, (byte) 0xc0, (byte) 0x80, 0x3f, 0x20, (byte) 0xc0,
            0x00, 0x3c, 0x00, (byte) 0xc1};
        try (SafetensorsFile f = SafetensorsFile.open(file(header, data))) {
            assertArrayEquals(new float[] {1f, -2.5f}, f.read("f").data().asFloat());
            assertArrayEquals(new float[] {1f, -2.5f}, f.read("b", DataType.FLOAT).data().asFloat());
            assertArrayEquals(new float[] {1f, -2.5f}, f.read("h", DataType.FLOAT).data().asFloat());
            assertEquals(DataType.BFLOAT16, f.read("b").dataType());
            assertNull(f.tensor("x").orElse(null));
        }
    }
}
