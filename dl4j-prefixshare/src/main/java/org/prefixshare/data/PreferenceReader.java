package org.prefixshare.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.CharConversionException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads preference examples from JSONL (streamed line by line), JSON arrays (streamed element by element) or either
 * of them gzipped (detected from the magic bytes, whatever the file name).
 *
 * <p>Bad records (malformed JSON, a missing field, an empty response, a non-string value, invalid UTF-8, a key given
 * twice, anything after the record on its JSONL line) raise an {@link InvalidInputException} naming the file, the
 * line and the field; with {@link ReaderOptions#skipInvalid()} they are skipped and counted by reason in
 * {@link ReadCounts}. Exceptions: malformed JSON inside a JSON array cannot be resynchronised, and a truncated or
 * corrupt gzip stream ({@link InvalidReason#CORRUPT_FILE}) cannot be read on, so both are always fatal.
 */
public final class PreferenceReader {

    private static final ObjectMapper MAPPER = new ObjectMapper(StrictJson.FACTORY);
    /** A JSONL line longer than this is refused rather than read into memory (it cannot be a sensible record). */
    static final int MAX_LINE_BYTES = 256 << 20;

    private final ReaderOptions options;

    public PreferenceReader(ReaderOptions options) {
        this.options = options;
    }

    /** Reads a whole file into memory. */
    public List<PreferenceExample> readAll(Path file, ReadCounts counts) {
        List<PreferenceExample> out = new ArrayList<>();
        try (ExampleStream s = open(file, counts)) {
            while (s.hasNext()) {
                out.add(s.next());
            }
        }
        return out;
    }

    /** Reads a whole file into memory (counts discarded). */
    public List<PreferenceExample> readAll(Path file) {
        return readAll(file, new ReadCounts());
    }

    /** Opens a streaming reader over one file; close it when done. */
    public ExampleStream open(Path file, ReadCounts counts) {
        try {
            return open(Files.newInputStream(file), file.toString(), counts);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    /** Opens a streaming reader over a stream ({@code name} is used in error messages); closes the stream. */
    public ExampleStream open(InputStream raw, String name, ReadCounts counts) {
        try {
            BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
            in.mark(2);
            int b0 = in.read();
            int b1 = in.read();
            in.reset();
            InputStream body = in;
            boolean gzip = b0 == 0x1f && b1 == 0x8b;
            if (gzip) {
                try {
                    body = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
                } catch (EOFException | ZipException e) {
                    in.close();
                    throw corruptGzip(name, 1, e);
                }
            }
            body.mark(64);
            int c;
            try {
                do {
                    c = body.read();
                } while (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0xEF || c == 0xBB || c == 0xBF);
            } catch (EOFException | ZipException e) {
                body.close();
                throw corruptGzip(name, 1, e);
            }
            body.reset();
            ExampleStream s = c == '[' ? new ArrayStream(body, name, counts) : new LineStream(body, name, counts);
            s.gzip = gzip;
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** The error of a gzip stream that ends early ({@link EOFException}) or holds corrupt data. */
    private static InvalidInputException corruptGzip(String name, long line, IOException e) {
        String what = e instanceof EOFException ? "the gzip stream ends early (is the file truncated?)"
                : "the gzip data is corrupt";
        return new InvalidInputException(name, line, null, InvalidReason.CORRUPT_FILE, what + ": " + e.getMessage());
    }

    /** A streaming iterator of examples. */
    public abstract static class ExampleStream implements Iterator<PreferenceExample>, AutoCloseable {
        final String name;
        final ReadCounts counts;
        final InputStream in;
        PreferenceExample pending;
        long recordIndex;
        boolean gzip;

        ExampleStream(InputStream in, String name, ReadCounts counts) {
            this.in = in;
            this.name = name;
            this.counts = counts;
        }

        /** Reads the next valid example into {@code pending}, or leaves it null at the end. */
        abstract void advance() throws IOException;

        /** The 1-based line being read. */
        abstract long currentLine();

        @Override
        public boolean hasNext() {
            if (pending == null) {
                try {
                    advance();
                } catch (EOFException | ZipException e) {
                    if (!gzip) {
                        throw new UncheckedIOException("cannot read " + name + ": " + e.getMessage(), e);
                    }
                    throw corruptGzip(name, currentLine(), e);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + name + ": " + e.getMessage(), e);
                }
            }
            return pending != null;
        }

        @Override
        public PreferenceExample next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            PreferenceExample e = pending;
            pending = null;
            return e;
        }

        @Override
        public void close() {
            try {
                in.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private final class LineStream extends ExampleStream {
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream(4096);
        private long lineNo;
        private boolean eof;

        LineStream(InputStream in, String name, ReadCounts counts) {
            super(in, name, counts);
        }

        @Override
        long currentLine() {
            return lineNo + 1;
        }

        @Override
        void advance() throws IOException {
            while (pending == null && !eof) {
                buf.reset();
                int c;
                boolean tooLong = false;
                while ((c = in.read()) != -1 && c != '\n') {
                    if (buf.size() < MAX_LINE_BYTES) {
                        buf.write(c);
                    } else {
                        tooLong = true; // read on to the line's end, keeping nothing
                    }
                }
                if (c == -1) {
                    eof = true;
                    if (buf.size() == 0) {
                        return;
                    }
                }
                lineNo++;
                byte[] bytes = buf.toByteArray();
                if (lineNo == 1 && bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB
                        && (bytes[2] & 0xff) == 0xBF) {
                    bytes = java.util.Arrays.copyOfRange(bytes, 3, bytes.length);
                }
                if (isBlank(bytes)) {
                    continue;
                }
                long id = recordIndex++;
                counts.record();
                try {
                    if (tooLong) {
                        throw new InvalidInputException(name, lineNo, null, InvalidReason.RECORD_TOO_LONG,
                                "the line is longer than " + (MAX_LINE_BYTES >> 20) + " MiB");
                    }
                    String text;
                    try {
                        text = decoder.decode(ByteBuffer.wrap(bytes)).toString();
                    } catch (CharacterCodingException e) {
                        throw new InvalidInputException(name, lineNo, null, InvalidReason.INVALID_UTF8,
                                "bytes are not valid UTF-8");
                    }
                    JsonNode node = parseLine(text);
                    pending = parseRecord(node, id, name, lineNo);
                    counts.example(pending);
                } catch (InvalidInputException e) {
                    if (!options.skipInvalid()) {
                        throw e;
                    }
                    counts.skip(e.reason());
                }
            }
        }

        /** The line's one JSON value: anything after it (a second value, stray text) is an error. */
        private JsonNode parseLine(String text) throws IOException {
            try (JsonParser p = StrictJson.FACTORY.createParser(text)) {
                StrictJson.Value v;
                try {
                    p.nextToken();
                    v = StrictJson.read(p);
                } catch (JsonProcessingException e) {
                    throw new InvalidInputException(name, lineNo, null, InvalidReason.MALFORMED_JSON,
                            e.getOriginalMessage());
                }
                long column = p.currentLocation().getColumnNr();
                try {
                    JsonToken next = p.nextToken();
                    if (next != null) {
                        throw new InvalidInputException(name, lineNo, null, InvalidReason.TRAILING_DATA,
                                "a second JSON value starts at column " + p.currentTokenLocation().getColumnNr()
                                        + "; JSONL holds one record per line");
                    }
                } catch (JsonProcessingException e) {
                    throw new InvalidInputException(name, lineNo, null, InvalidReason.TRAILING_DATA,
                            "text after the record (column " + column + " on); JSONL holds one record per line: "
                                    + e.getOriginalMessage());
                }
                if (v.duplicateKey() != null) {
                    throw new InvalidInputException(name, lineNo, v.duplicateKey(), InvalidReason.DUPLICATE_KEY,
                            "the key is given twice");
                }
                return v.node();
            }
        }

        private boolean isBlank(byte[] bytes) {
            for (byte b : bytes) {
                if (b != ' ' && b != '\t' && b != '\r') {
                    return false;
                }
            }
            return true;
        }
    }

    private final class ArrayStream extends ExampleStream {
        private final JsonParser parser;
        private boolean started;
        private boolean done;

        ArrayStream(InputStream in, String name, ReadCounts counts) throws IOException {
            super(in, name, counts);
            this.parser = StrictJson.FACTORY.createParser(in);
        }

        @Override
        long currentLine() {
            return parser.currentLocation().getLineNr();
        }

        @Override
        void advance() throws IOException {
            while (pending == null && !done) {
                long line = parser.getCurrentLocation().getLineNr();
                JsonToken t;
                try {
                    if (!started) {
                        started = true;
                        t = parser.nextToken();
                        if (t != JsonToken.START_ARRAY) {
                            throw new InvalidInputException(name, line, null, InvalidReason.MALFORMED_JSON,
                                    "expected a JSON array, got " + t);
                        }
                    }
                    t = parser.nextToken();
                    if (t == JsonToken.END_ARRAY || t == null) {
                        done = true;
                        if (t == JsonToken.END_ARRAY) {
                            expectEnd();
                        }
                        return;
                    }
                    line = parser.getTokenLocation().getLineNr();
                    StrictJson.Value v = StrictJson.read(parser);
                    long id = recordIndex++;
                    counts.record();
                    try {
                        if (v.duplicateKey() != null) {
                            throw new InvalidInputException(name, line, v.duplicateKey(), InvalidReason.DUPLICATE_KEY,
                                    "the key is given twice");
                        }
                        pending = parseRecord(v.node(), id, name, line);
                        counts.example(pending);
                    } catch (InvalidInputException e) {
                        if (!options.skipInvalid()) {
                            throw e;
                        }
                        counts.skip(e.reason());
                    }
                } catch (CharConversionException e) {
                    throw new InvalidInputException(name, Math.max(line, parser.getCurrentLocation().getLineNr()),
                            null, InvalidReason.INVALID_UTF8, e.getMessage());
                } catch (JsonProcessingException e) {
                    long at = e.getLocation() != null ? e.getLocation().getLineNr() : line;
                    boolean utf8 = e.getOriginalMessage() != null
                            && e.getOriginalMessage().contains("UTF-8");
                    throw new InvalidInputException(name, at, null,
                            utf8 ? InvalidReason.INVALID_UTF8 : InvalidReason.MALFORMED_JSON, e.getOriginalMessage());
                }
            }
        }

        /** Nothing but white space may follow the array. */
        private void expectEnd() throws IOException {
            long line = parser.currentLocation().getLineNr();
            JsonToken after;
            try {
                after = parser.nextToken();
            } catch (JsonProcessingException e) {
                throw new InvalidInputException(name, line, null, InvalidReason.TRAILING_DATA,
                        "text after the JSON array: " + e.getOriginalMessage());
            }
            if (after != null) {
                throw new InvalidInputException(name, parser.currentTokenLocation().getLineNr(), null,
                        InvalidReason.TRAILING_DATA, "a second JSON value follows the array; a JSON file holds one "
                        + "array of records");
            }
        }

        @Override
        public void close() {
            try {
                parser.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            super.close();
        }
    }

    // ---------------------------------------------------------------- record parsing

    /** Parses one JSON record in the configured format. */
    PreferenceExample parseRecord(JsonNode node, long id, String file, long line) {
        if (node == null || !node.isObject()) {
            throw new InvalidInputException(file, line, null, InvalidReason.MALFORMED_JSON,
                    "expected a JSON object, got " + (node == null ? "nothing" : node.getNodeType()));
        }
        FieldNames f = options.fields();
        Ctx ctx = new Ctx(file, line);
        switch (options.format()) {
            case PROMPT: {
                String prompt = ctx.string(node, f.prompt(), true);
                return new PreferenceExample(id, file, line, Content.text(prompt), List.of(
                        Content.text(ctx.response(node, f.chosen())), Content.text(ctx.response(node, f.rejected()))));
            }
            case CONVERSATIONAL: {
                List<Message> prompt = ctx.messages(node.get(f.prompt()), f.prompt(), true);
                return new PreferenceExample(id, file, line, Content.messages(prompt), List.of(
                        Content.messages(ctx.responseMessages(node.get(f.chosen()), f.chosen())),
                        Content.messages(ctx.responseMessages(node.get(f.rejected()), f.rejected()))));
            }
            case IMPLICIT:
                return implicit(ctx, node, id);
            case ALPACA: {
                String instruction = ctx.string(node, f.instruction(), false);
                JsonNode in = node.get(f.input());
                String input = "";
                if (in != null && !in.isNull()) {
                    if (!in.isTextual()) {
                        throw ctx.error(f.input(), InvalidReason.NOT_A_STRING, "got " + in.getNodeType());
                    }
                    input = in.textValue();
                }
                String prompt = options.alpacaTemplate().render(instruction, input);
                return new PreferenceExample(id, file, line, Content.text(prompt), List.of(
                        Content.text(ctx.response(node, f.chosen())), Content.text(ctx.response(node, f.rejected()))));
            }
            case RANKED:
                return ranked(ctx, node, id);
            default:
                throw new IllegalStateException("unhandled format " + options.format());
        }
    }

    private PreferenceExample implicit(Ctx ctx, JsonNode node, long id) {
        FieldNames f = options.fields();
        String chosen = ctx.string(node, f.chosen(), false);
        String rejected = ctx.string(node, f.rejected(), false);
        int common = 0;
        int max = Math.min(chosen.length(), rejected.length());
        while (common < max && chosen.charAt(common) == rejected.charAt(common)) {
            common++;
        }
        String marker = options.implicitBoundary();
        int at = chosen.lastIndexOf(marker, common - marker.length());
        if (at < 0) {
            throw ctx.error(f.chosen(), InvalidReason.NO_COMMON_PROMPT,
                    "chosen and rejected share no '" + marker.replace("\n", "\\n") + "' turn boundary");
        }
        int cut = at + marker.length();
        String c = chosen.substring(cut);
        String r = rejected.substring(cut);
        if (c.isBlank()) {
            throw ctx.error(f.chosen(), InvalidReason.EMPTY_RESPONSE, "empty after the prompt");
        }
        if (r.isBlank()) {
            throw ctx.error(f.rejected(), InvalidReason.EMPTY_RESPONSE, "empty after the prompt");
        }
        return new PreferenceExample(id, ctx.file, ctx.line, Content.text(chosen.substring(0, cut)),
                List.of(Content.text(c), Content.text(r)));
    }

    private PreferenceExample ranked(Ctx ctx, JsonNode node, long id) {
        FieldNames f = options.fields();
        JsonNode p = node.get(f.prompt());
        Content prompt;
        if (p != null && p.isArray()) {
            prompt = Content.messages(ctx.messages(p, f.prompt(), true));
        } else {
            prompt = Content.text(ctx.string(node, f.prompt(), true));
        }
        JsonNode rs = node.get(f.responses());
        if (rs == null || rs.isNull()) {
            throw ctx.error(f.responses(), InvalidReason.MISSING_FIELD, null);
        }
        if (!rs.isArray()) {
            throw ctx.error(f.responses(), InvalidReason.NOT_A_STRING, "expected a list of responses, got "
                    + rs.getNodeType());
        }
        if (rs.size() < 2) {
            throw ctx.error(f.responses(), InvalidReason.TOO_FEW_RESPONSES, "got " + rs.size());
        }
        List<Content> responses = new ArrayList<>(rs.size());
        for (int i = 0; i < rs.size(); i++) {
            JsonNode r = rs.get(i);
            String field = f.responses() + "[" + i + "]";
            if (r.isArray()) {
                responses.add(Content.messages(ctx.responseMessages(r, field)));
            } else if (r.isTextual()) {
                if (r.textValue().isBlank()) {
                    throw ctx.error(field, InvalidReason.EMPTY_RESPONSE, null);
                }
                responses.add(Content.text(r.textValue()));
            } else {
                throw ctx.error(field, InvalidReason.NOT_A_STRING, "got " + r.getNodeType());
            }
        }
        return new PreferenceExample(id, ctx.file, ctx.line, prompt, responses);
    }

    private final class Ctx {
        final String file;
        final long line;

        Ctx(String file, long line) {
            this.file = file;
            this.line = line;
        }

        InvalidInputException error(String field, InvalidReason reason, String detail) {
            return new InvalidInputException(file, line, field, reason, detail);
        }

        String string(JsonNode obj, String field, boolean allowEmpty) {
            JsonNode v = obj.get(field);
            if (v == null || v.isNull()) {
                throw error(field, InvalidReason.MISSING_FIELD, null);
            }
            if (!v.isTextual()) {
                throw error(field, InvalidReason.NOT_A_STRING, "got " + v.getNodeType());
            }
            if (!allowEmpty && v.textValue().isBlank()) {
                throw error(field, InvalidReason.MISSING_FIELD, "empty");
            }
            return v.textValue();
        }

        String response(JsonNode obj, String field) {
            JsonNode v = obj.get(field);
            if (v != null && v.isTextual() && v.textValue().isBlank()) {
                throw error(field, InvalidReason.EMPTY_RESPONSE, null);
            }
            return string(obj, field, false);
        }

        List<Message> messages(JsonNode v, String field, boolean allowEmpty) {
            if (v == null || v.isNull()) {
                throw error(field, InvalidReason.MISSING_FIELD, null);
            }
            if (!v.isArray()) {
                throw error(field, InvalidReason.NOT_A_STRING,
                        "expected a list of {role, content} messages, got " + v.getNodeType());
            }
            if (!allowEmpty && v.isEmpty()) {
                throw error(field, InvalidReason.EMPTY_RESPONSE, "empty message list");
            }
            FieldNames f = options.fields();
            List<Message> out = new ArrayList<>(v.size());
            for (int i = 0; i < v.size(); i++) {
                JsonNode m = v.get(i);
                String where = field + "[" + i + "]";
                if (!m.isObject()) {
                    throw error(where, InvalidReason.NOT_A_STRING, "expected a {role, content} object, got "
                            + m.getNodeType());
                }
                out.add(new Message(string(m, f.role(), false), stringAllowEmpty(m, f.content(), where)));
            }
            return out;
        }

        private String stringAllowEmpty(JsonNode m, String key, String where) {
            JsonNode c = m.get(key);
            if (c == null || c.isNull()) {
                throw error(where + "." + key, InvalidReason.MISSING_FIELD, null);
            }
            if (!c.isTextual()) {
                throw error(where + "." + key, InvalidReason.NOT_A_STRING, "got " + c.getNodeType());
            }
            return c.textValue();
        }

        List<Message> responseMessages(JsonNode v, String field) {
            List<Message> ms = messages(v, field, false);
            boolean allEmpty = ms.stream().allMatch(m -> m.content().isBlank());
            if (allEmpty) {
                throw error(field, InvalidReason.EMPTY_RESPONSE, null);
            }
            return ms;
        }
    }
}
