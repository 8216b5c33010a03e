package org.prefixshare.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.CharConversionException;
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

/**
 * Reads preference examples from JSONL (streamed line by line), JSON arrays (streamed element by element) or either
 * of them gzipped (detected from the magic bytes, whatever the file name).
 *
 * <p>Bad records (malformed JSON, a missing field, an empty response, a non-string value, invalid UTF-8) raise an
 * {@link InvalidInputException} naming the file, the line and the field; with
 * {@link ReaderOptions#skipInvalid()} they are skipped and counted by reason in {@link ReadCounts}. One exception:
 * malformed JSON inside a JSON array cannot be resynchronised, so it is always fatal.
 */
public final class PreferenceReader {

    private static final ObjectMapper MAPPER = new ObjectMapper();

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
            if (b0 == 0x1f && b1 == 0x8b) {
                body = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
            }
            body.mark(64);
            int c;
            do {
                c = body.read();
            } while (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0xEF || c == 0xBB || c == 0xBF);
            body.reset();
            return c == '[' ? new ArrayStream(body, name, counts) : new LineStream(body, name, counts);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** A streaming iterator of examples. */
    public abstract static class ExampleStream implements Iterator<PreferenceExample>, AutoCloseable {
        final String name;
        final ReadCounts counts;
        final InputStream in;
        PreferenceExample pending;
        long recordIndex;

        ExampleStream(InputStream in, String name, ReadCounts counts) {
            this.in = in;
            this.name = name;
            this.counts = counts;
        }

        /** Reads the next valid example into {@code pending}, or leaves it null at the end. */
        abstract void advance() throws IOException;

        @Override
        public boolean hasNext() {
            if (pending == null) {
                try {
                    advance();
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
        void advance() throws IOException {
            while (pending == null && !eof) {
                buf.reset();
                int c;
                while ((c = in.read()) != -1 && c != '\n') {
                    buf.write(c);
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
                    String text;
                    try {
                        text = decoder.decode(ByteBuffer.wrap(bytes)).toString();
                    } catch (CharacterCodingException e) {
                        throw new InvalidInputException(name, lineNo, null, InvalidReason.INVALID_UTF8,
                                "bytes are not valid UTF-8");
                    }
                    JsonNode node;
                    try {
                        node = MAPPER.readTree(text);
                    } catch (JsonProcessingException e) {
                        throw new InvalidInputException(name, lineNo, null, InvalidReason.MALFORMED_JSON,
                                e.getOriginalMessage());
                    }
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
            this.parser = new JsonFactory().setCodec(MAPPER).createParser(in);
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
                        return;
                    }
                    line = parser.getTokenLocation().getLineNr();
                    JsonNode node = parser.readValueAsTree();
                    long id = recordIndex++;
                    counts.record();
                    try {
                        pending = parseRecord(node, id, name, line);
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
