package org.prefixshare.hf.safetensors;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A safetensors file, a sharded checkpoint's index, or a request against them broke a rule of the format.
 *
 * <p>The message is one line a user can act on:
 * {@code <file>: tensor '<name>': <rule in words>: <detail with the values found>} (without the tensor part when
 * the rule concerns the whole file). Being an {@link IllegalArgumentException}, it reaches the command line as one
 * line and exit status 2.
 */
public final class SafetensorsException extends IllegalArgumentException {

    private static final int MAX_NAME_CHARS = 200;

    /** The rule broken; one variant per check. */
    public enum Rule {
        /** The file or directory does not exist. */
        NOT_FOUND("not found"),
        /** The file ends before the 8-byte header length, or before the data the header describes. */
        TRUNCATED("file truncated"),
        /** The header length exceeds 100,000,000 bytes. */
        HEADER_TOO_LARGE("header length too large"),
        /** The header length reaches past the end of the file. */
        HEADER_OUTSIDE_FILE("header length beyond the end of the file"),
        /** The header is not valid UTF-8. */
        HEADER_NOT_UTF8("header not UTF-8"),
        /** The header is not a JSON object (invalid JSON, another JSON value, or trailing content). */
        HEADER_NOT_JSON_OBJECT("header not a JSON object"),
        /** A key appears twice in the header, or twice in one tensor entry. */
        DUPLICATE_KEY("duplicate key"),
        /** {@code __metadata__} is not an object of strings. */
        BAD_METADATA("bad __metadata__"),
        /** A dtype this reader does not know. */
        UNKNOWN_DTYPE("unknown dtype"),
        /** A tensor entry lacks {@code dtype}, {@code shape} or {@code data_offsets}, or one is ill-typed. */
        BAD_ENTRY("bad tensor entry"),
        /** Sorted by offset, the tensors do not start at 0 and follow one another without gap or overlap. */
        OFFSETS_NOT_CONTIGUOUS("data offsets not contiguous"),
        /** A tensor's byte length differs from product(shape) x dtype size, or that product overflows. */
        SIZE_MISMATCH("byte length does not match shape and dtype"),
        /** Bytes follow the last tensor: last offset + 8 + header length is less than the file size. */
        FILE_SIZE_MISMATCH("file size does not match the header"),
        /** A shard named in a checkpoint's index does not exist. */
        MISSING_SHARD("missing shard"),
        /** A checkpoint's index is not valid JSON of the expected form, or its total size is wrong. */
        INDEX_INVALID("invalid index"),
        /** A tensor asked for, or listed in the index for a shard, is not there. */
        MISSING_TENSOR("missing tensor"),
        /** A shard holds a tensor its index does not list for it. */
        UNEXPECTED_TENSOR("tensor not in the index"),
        /** An array's shape differs from the tensor's. */
        SHAPE_MISMATCH("shape mismatch"),
        /** The dtype cannot be read into, or converted to, the ND4J type asked for. */
        UNSUPPORTED_DTYPE("unsupported dtype");

        private final String words;

        Rule(String words) {
            this.words = words;
        }

        /** The rule in words, as it appears in messages. */
        public String words() {
            return words;
        }
    }

    private final Rule rule;
    private final transient Path file;
    private final String tensor;

    /**
     * @param rule   the rule broken
     * @param file   the file (or directory) concerned
     * @param tensor the tensor concerned, or null when the rule concerns the whole file
     * @param detail what was found, with the values
     */
    public SafetensorsException(Rule rule, Path file, String tensor, String detail) {
        super(message(rule, file, tensor, detail));
        this.rule = Objects.requireNonNull(rule, "rule");
        this.file = file;
        this.tensor = tensor;
    }

    /** The rule broken. */
    public Rule rule() {
        return rule;
    }

    /** The file (or directory) concerned. */
    public Path file() {
        return file;
    }

    /** The tensor concerned, or null when the rule concerns the whole file. */
    public String tensor() {
        return tensor;
    }

    private static String message(Rule rule, Path file, String tensor, String detail) {
        StringBuilder sb = new StringBuilder().append(file);
        if (tensor != null) {
            sb.append(": tensor '").append(printable(tensor)).append('\'');
        }
        sb.append(": ").append(rule.words());
        if (detail != null && !detail.isEmpty()) {
            sb.append(": ").append(oneLine(detail));
        }
        return sb.toString();
    }

    /**
     * A name read from a file, fit for a one-line message: control characters escaped, cut at 200 characters.
     */
    static String printable(String name) {
        String s = oneLine(name);
        return s.length() <= MAX_NAME_CHARS ? s : s.substring(0, MAX_NAME_CHARS) + "...";
    }

    private static String oneLine(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
