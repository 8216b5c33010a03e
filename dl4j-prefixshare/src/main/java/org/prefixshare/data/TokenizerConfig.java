package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The parts of a Hugging Face {@code tokenizer_config.json} the pipeline uses (Hugging Face key in brackets).
 *
 * @param bosToken     BOS text [bos_token], or null
 * @param eosToken     EOS text [eos_token], or null
 * @param padToken     padding text [pad_token], or null
 * @param chatTemplate the Jinja chat template [chat_template] (the "default" one when a list is given), or null
 * @param addBosToken  whether plain text gets a BOS [add_bos_token], or null when the file does not say
 */
public record TokenizerConfig(String bosToken, String eosToken, String padToken, String chatTemplate,
                              Boolean addBosToken) {

    /** No configuration. */
    public static TokenizerConfig empty() {
        return new TokenizerConfig(null, null, null, null, null);
    }

    /** Reads a {@code tokenizer_config.json}. */
    public static TokenizerConfig load(Path file) {
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(file + ": not a JSON object");
            }
            return new TokenizerConfig(token(n.get("bos_token")), token(n.get("eos_token")),
                    token(n.get("pad_token")), template(file, n.get("chat_template")),
                    n.hasNonNull("add_bos_token") ? n.get("add_bos_token").asBoolean() : null);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer config " + file + ": " + e.getMessage(), e);
        }
    }

    private static String token(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (v.isObject() && v.hasNonNull("content")) {
            return v.get("content").asText();
        }
        return null;
    }

    private static String template(Path file, JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (v.isArray()) {
            for (JsonNode t : v) {
                if ("default".equals(t.path("name").asText())) {
                    return t.path("template").asText();
                }
            }
            if (!v.isEmpty()) {
                return v.get(0).path("template").asText();
            }
        }
        throw new IllegalArgumentException(file + ": chat_template must be a string or a list of {name, template}");
    }
}
