package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;

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

    /**
     * Reads a {@code tokenizer_config.json}.
     *
     * @throws IllegalArgumentException naming the file when it is not a JSON object or a field has the wrong type
     */
    public static TokenizerConfig load(Path file) {
        JsonNode n = StrictJson.readObject(file, "tokenizer config");
        JsonNode addBos = n.get("add_bos_token");
        if (addBos != null && !addBos.isNull() && !addBos.isBoolean()) {
            throw new IllegalArgumentException(file + ": add_bos_token must be true or false, got " + addBos);
        }
        return new TokenizerConfig(token(n.get("bos_token")), token(n.get("eos_token")),
                token(n.get("pad_token")), template(file, n.get("chat_template")),
                addBos == null || addBos.isNull() ? null : addBos.asBoolean());
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
                if ("default".equals(t.path("name").asText()) && t.path("template").isTextual()) {
                    return t.path("template").asText();
                }
            }
            if (!v.isEmpty() && v.get(0).path("template").isTextual()) {
                return v.get(0).path("template").asText();
            }
        }
        throw new IllegalArgumentException(file + ": chat_template must be a string or a list of {name, template}");
    }
}
