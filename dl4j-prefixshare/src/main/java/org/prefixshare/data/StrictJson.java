package org.prefixshare.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Builds JSON trees from a parser without losing anything silently: a key given twice in one object is reported
 * (Jackson's tree reader keeps the last value without a word). The duplicate is reported only after the whole value
 * has been read, so a reader that skips bad records stays in step with the input.
 *
 * <p>The parsers of {@link #FACTORY} allow strings as long as the line that holds them (Jackson's default cap of 20
 * million characters would refuse a long document in a readable file); nesting depth (1,000) and number length
 * (1,000 digits) keep Jackson's defaults.
 */
final class StrictJson {

    /** The factory of every preference-data parser. */
    static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
            .build();

    private StrictJson() {
    }

    /**
     * Reads a whole JSON file that must hold one object ({@code what} names it in errors: "tokenizer config").
     *
     * @throws IllegalArgumentException naming the file and, for a syntax error, the line and column
     */
    static JsonNode readObject(Path file, String what) {
        JsonNode n;
        try (JsonParser p = FACTORY.createParser(file.toFile())) {
            n = new ObjectMapper(FACTORY).readTree(p);
            if (n != null && p.nextToken() != null) {
                throw new IllegalArgumentException(what + " " + file + " holds something after its JSON object "
                        + "(line " + p.currentTokenLocation().getLineNr() + ")");
            }
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + " " + file + " is not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + what + " " + file + ": " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(what + " " + file + " must hold a JSON object, got "
                    + (n == null ? "nothing" : n.getNodeType()));
        }
        return n;
    }

    /** A value read; {@code duplicateKey} is the path of the first key given twice ("prompt[0].content"), or null. */
    record Value(JsonNode node, String duplicateKey) {
    }

    /** Reads the value at the parser's current token (its first token), leaving the parser on its last token. */
    static Value read(JsonParser p) throws IOException {
        String[] duplicate = new String[1];
        JsonNode node = value(p, "", duplicate);
        return new Value(node, duplicate[0]);
    }

    private static JsonNode value(JsonParser p, String path, String[] duplicate) throws IOException {
        JsonNodeFactory f = JsonNodeFactory.instance;
        JsonToken t = p.currentToken();
        if (t == null) {
            return null;
        }
        switch (t) {
            case START_OBJECT: {
                ObjectNode o = f.objectNode();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    p.nextToken();
                    String at = path.isEmpty() ? key : path + "." + key;
                    JsonNode v = value(p, at, duplicate);
                    if (o.has(key)) {
                        if (duplicate[0] == null) {
                            duplicate[0] = at;
                        }
                    } else {
                        o.set(key, v);
                    }
                }
                return o;
            }
            case START_ARRAY: {
                ArrayNode a = f.arrayNode();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    a.add(value(p, path + "[" + a.size() + "]", duplicate));
                }
                return a;
            }
            case VALUE_STRING:
                return f.textNode(p.getText());
            case VALUE_NUMBER_INT:
                return f.numberNode(p.getBigIntegerValue()); // at most 1,000 digits (the parser's cap)
            case VALUE_NUMBER_FLOAT:
                return f.numberNode(p.getDoubleValue()); // a huge exponent reads as infinity, never expanded
            case VALUE_TRUE:
                return f.booleanNode(true);
            case VALUE_FALSE:
                return f.booleanNode(false);
            case VALUE_NULL:
                return f.nullNode();
            default:
                throw new IllegalStateException("unexpected JSON token " + t);
        }
    }
}
