package org.prefixshare.hf.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The header of a safetensors file: read and checked once, exactly as Hugging Face's reference implementation
 * ({@code safetensors/src/tensor.rs}) does, and written in the layout its writer produces.
 *
 * <p>Layout: 8 bytes little-endian unsigned header length N, N bytes of UTF-8 JSON, then the data. The JSON is an
 * object whose keys are tensor names (plus an optional {@code __metadata__} of string values), each entry
 * {@code {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}} with offsets relative to the data start.
 *
 * @param length   N, the header's length in bytes (the data starts at {@code 8 + length})
 * @param metadata the {@code __metadata__} strings (empty when absent)
 * @param tensors  the tensors sorted by offset, i.e. in file order
 */
record Header(long length, Map<String, String> metadata, List<TensorInfo> tensors) {

    /** The key of the free-form string map. */
    static final String METADATA_KEY = "__metadata__";
    /** The bytes holding N. */
    static final int LENGTH_BYTES = 8;
    /** The reference implementation's limit on N. */
    static final long MAX_LENGTH = 100_000_000L;

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxStringLength(Integer.MAX_VALUE).maxNameLength(Integer.MAX_VALUE).build())
            .build();

    /** The offset of the data in the file, {@code 8 + N}. */
    long dataStart() {
        return LENGTH_BYTES + length;
    }

    /** Reads and validates the header of {@code file}, open as {@code channel}. */
    static Header read(Path file, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < LENGTH_BYTES) {
            throw new SafetensorsException(Rule.TRUNCATED, file, null,
                    "the file has " + fileSize + " bytes, fewer than the 8 holding the header length");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(LENGTH_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        ChunkedCopy.readFully(file, channel, lengthBytes, 0, null);
        long n = lengthBytes.getLong(0);
        if (Long.compareUnsigned(n, MAX_LENGTH) > 0) {
            throw new SafetensorsException(Rule.HEADER_TOO_LARGE, file, null,
                    "header length " + Long.toUnsignedString(n) + " exceeds the limit of " + MAX_LENGTH + " bytes");
        }
        if (LENGTH_BYTES + n > fileSize) {
            throw new SafetensorsException(Rule.HEADER_OUTSIDE_FILE, file, null,
                    "header length " + n + " needs " + (LENGTH_BYTES + n) + " bytes but the file has " + fileSize);
        }
        ByteBuffer json = ByteBuffer.allocate((int) n);
        ChunkedCopy.readFully(file, channel, json, LENGTH_BYTES, null);
        String text = utf8(file, json.array());
        Parsed parsed = parse(file, text);
        List<TensorInfo> tensors = validate(file, parsed.entries(), n, fileSize);
        return new Header(n, Collections.unmodifiableMap(parsed.metadata()), Collections.unmodifiableList(tensors));
    }

    private record Parsed(Map<String, String> metadata, List<TensorInfo> entries) {
    }

    private static String utf8(Path file, byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder(); // reports malformed input, replaces nothing
        CoderResult result = decoder.decode(in, out, true);
        if (result.isError()) {
            int at = in.position(); // the decoder stops at the first bad sequence
            throw new SafetensorsException(Rule.HEADER_NOT_UTF8, file, null,
                    String.format("invalid UTF-8 byte 0x%02x at header byte %d", bytes[at] & 0xff, at));
        }
        decoder.flush(out);
        return out.flip().toString();
    }

    /** Parses the JSON text into the metadata and the tensor entries, in the order written. */
    private static Parsed parse(Path file, String text) {
        if (!text.startsWith("{")) {
            throw new SafetensorsException(Rule.HEADER_NOT_JSON_OBJECT, file, null,
                    "the header must begin with '{' but begins with "
                            + (text.isEmpty() ? "nothing (length 0)" : quoteStart(text)));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> entries = new ArrayList<>();
        try (JsonParser p = JSON.createParser(text)) {
            p.nextToken();
            Set<String> keys = new HashSet<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                if (!keys.add(key)) {
                    throw new SafetensorsException(Rule.DUPLICATE_KEY, file, key.equals(METADATA_KEY) ? null : key,
                            "key '" + SafetensorsException.printable(key) + "' appears twice in the header");
                }
                p.nextToken();
                if (key.equals(METADATA_KEY)) {
                    parseMetadata(file, p, metadata);
                } else {
                    entries.add(parseEntry(file, key, p));
                }
            }
            JsonToken after = p.nextToken();
            if (after != null) {
                throw new SafetensorsException(Rule.HEADER_NOT_JSON_OBJECT, file, null,
                        "content after the header's object at " + where(p.currentTokenLocation()));
            }
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(Rule.HEADER_NOT_JSON_OBJECT, file, null,
                    "invalid JSON: " + e.getOriginalMessage() + " at " + where(e.getLocation()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Parsed(metadata, entries);
    }

    private static void parseMetadata(Path file, JsonParser p, Map<String, String> metadata) throws IOException {
        if (p.currentToken() == JsonToken.VALUE_NULL) {
            return; // the reference reads __metadata__ into an Option: null means none
        }
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new SafetensorsException(Rule.BAD_METADATA, file, null,
                    "expected an object of strings, got " + describe(p.currentToken()));
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            JsonToken value = p.nextToken();
            if (metadata.containsKey(key)) {
                throw new SafetensorsException(Rule.DUPLICATE_KEY, file, null,
                        "key '" + SafetensorsException.printable(key) + "' appears twice in " + METADATA_KEY);
            }
            if (value != JsonToken.VALUE_STRING) {
                throw new SafetensorsException(Rule.BAD_METADATA, file, null, "the value of '"
                        + SafetensorsException.printable(key) + "' is " + describe(value) + ", not a string");
            }
            metadata.put(key, p.getText());
        }
    }

    /** One tensor entry; unknown fields are skipped, as the reference's deserializer does. */
    private static TensorInfo parseEntry(Path file, String name, JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new SafetensorsException(Rule.BAD_ENTRY, file, name,
                    "expected an object with dtype, shape and data_offsets, got " + describe(p.currentToken()));
        }
        String dtype = null;
        long[] shape = null;
        long[] offsets = null;
        Set<String> fields = new HashSet<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            if (!fields.add(field)) {
                throw new SafetensorsException(Rule.DUPLICATE_KEY, file, name,
                        "field '" + SafetensorsException.printable(field) + "' appears twice in the entry");
            }
            JsonToken value = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (value != JsonToken.VALUE_STRING) {
                        throw new SafetensorsException(Rule.BAD_ENTRY, file, name,
                                "'dtype' is " + describe(value) + ", not a string");
                    }
                    dtype = p.getText();
                }
                case "shape" -> shape = naturals(file, name, "shape", p);
                case "data_offsets" -> offsets = naturals(file, name, "data_offsets", p);
                default -> p.skipChildren();
            }
        }
        for (String required : List.of("dtype", "shape", "data_offsets")) {
            if (!fields.contains(required)) {
                throw new SafetensorsException(Rule.BAD_ENTRY, file, name, "'" + required + "' is missing");
            }
        }
        if (offsets.length != 2) {
            throw new SafetensorsException(Rule.BAD_ENTRY, file, name,
                    "'data_offsets' must be [begin, end], got " + Arrays.toString(offsets));
        }
        SafetensorsDtype type;
        try {
            type = SafetensorsDtype.parse(dtype);
        } catch (IllegalArgumentException e) {
            throw new SafetensorsException(Rule.UNKNOWN_DTYPE, file, name, "'" + SafetensorsException.printable(dtype)
                    + "' (known: " + SafetensorsDtype.known() + ")");
        }
        return new TensorInfo(name, type, shape, offsets[0], offsets[1]);
    }

    /** A JSON array of non-negative integers that fit in a signed 64-bit value. */
    private static long[] naturals(Path file, String name, String field, JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw new SafetensorsException(Rule.BAD_ENTRY, file, name,
                    "'" + field + "' is " + describe(p.currentToken()) + ", not an array of integers");
        }
        List<Long> values = new ArrayList<>();
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT) {
                String value = t == JsonToken.VALUE_STRING ? " \"" + SafetensorsException.printable(p.getText()) + "\""
                        : t.isNumeric() ? " " + p.getText() : "";
                throw new SafetensorsException(Rule.BAD_ENTRY, file, name,
                        "'" + field + "' holds " + describe(t) + value + ", not an integer");
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER || p.getLongValue() < 0) {
                throw new SafetensorsException(Rule.BAD_ENTRY, file, name, "'" + field + "' holds " + p.getText()
                        + ", outside 0.." + Long.MAX_VALUE);
            }
            values.add(p.getLongValue());
        }
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * The checks of the reference's {@code Metadata::validate} and {@code read_metadata}: sorted by offset, the
     * tensors start at 0 and follow one another; each holds product(shape) x size bytes, computed without overflow;
     * the last one ends where the file does.
     */
    static List<TensorInfo> validate(Path file, List<TensorInfo> entries, long headerLength, long fileSize) {
        List<TensorInfo> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end)
                .thenComparing(TensorInfo::name));
        long expectedBegin = 0;
        TensorInfo previous = null;
        for (TensorInfo t : sorted) {
            if (t.end() < t.begin()) {
                throw new SafetensorsException(Rule.OFFSETS_NOT_CONTIGUOUS, file, t.name(),
                        "data_offsets [" + t.begin() + ", " + t.end() + "] end before they begin");
            }
            if (t.begin() != expectedBegin) {
                String why;
                if (previous == null) {
                    why = "the first tensor (by offset) starts at byte " + t.begin() + ", not 0";
                } else {
                    why = "starts at byte " + t.begin() + " but the previous tensor '"
                            + SafetensorsException.printable(previous.name()) + "' ends at " + expectedBegin
                            + (t.begin() > expectedBegin ? " (a gap of " + (t.begin() - expectedBegin) + " bytes)"
                            : " (they overlap)");
                }
                throw new SafetensorsException(Rule.OFFSETS_NOT_CONTIGUOUS, file, t.name(), why);
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(Shapes.elements(t.shape()), t.dtype().byteSize());
            } catch (ArithmeticException e) {
                throw new SafetensorsException(Rule.SIZE_MISMATCH, file, t.name(), "shape "
                        + Arrays.toString(t.shape()) + " x " + t.dtype().byteSize() + " bytes overflows 64 bits");
            }
            if (t.byteLength() != bytes) {
                throw new SafetensorsException(Rule.SIZE_MISMATCH, file, t.name(),
                        "data_offsets [" + t.begin() + ", " + t.end() + "] hold " + t.byteLength()
                                + " bytes but shape " + Arrays.toString(t.shape()) + " of " + t.dtype()
                                + " needs " + bytes);
            }
            expectedBegin = t.end();
            previous = t;
        }
        long dataStart = LENGTH_BYTES + headerLength;
        if (expectedBegin > fileSize - dataStart) {
            throw new SafetensorsException(Rule.TRUNCATED, file, previous.name(), "the tensors need " + expectedBegin
                    + " data bytes after the " + dataStart + " of length and header but the file has only "
                    + (fileSize - dataStart) + " (" + fileSize + " bytes in all)");
        }
        long dataEnd = dataStart + expectedBegin;
        if (dataEnd != fileSize) {
            throw new SafetensorsException(Rule.FILE_SIZE_MISMATCH, file, null, (fileSize - dataEnd)
                    + " bytes follow the last tensor"
                    + (previous == null ? "" : " '" + SafetensorsException.printable(previous.name()) + "'")
                    + ": 8 + header " + headerLength + " + data " + expectedBegin + " = " + dataEnd
                    + " but the file has " + fileSize + " bytes");
        }
        return sorted;
    }

    /**
     * The header bytes the reference writer produces for {@code tensors} in this order: compact JSON with
     * {@code __metadata__} first (when not empty), space-padded so that {@code 8 + N} is a multiple of 8.
     */
    static byte[] encode(List<TensorSpec> tensors, Map<String, String> metadata) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart(METADATA_KEY);
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (TensorSpec t : tensors) {
                g.writeObjectFieldStart(t.name());
                g.writeStringField("dtype", t.dtype().name());
                g.writeFieldName("shape");
                g.writeArray(t.shape(), 0, t.shape().length);
                long end = offset + t.byteLength();
                g.writeFieldName("data_offsets");
                g.writeArray(new long[] {offset, end}, 0, 2);
                g.writeEndObject();
                offset = end;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] json = out.toByteArray();
        int padded = (json.length + LENGTH_BYTES - 1) / LENGTH_BYTES * LENGTH_BYTES;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    private static String where(JsonLocation loc) {
        return loc == null ? "an unknown position" : "line " + loc.getLineNr() + " column " + loc.getColumnNr();
    }

    private static String quoteStart(String text) {
        int cp = text.codePointAt(0);
        return cp < 0x20 || cp == 0x7f ? String.format("byte 0x%02x", cp) : "'" + new String(Character.toChars(cp))
                + "'";
    }

    private static String describe(JsonToken t) {
        if (t == null) {
            return "the end of the header";
        }
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a decimal number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.asString() == null ? t.name() : t.asString();
        };
    }
}
