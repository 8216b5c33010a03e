package org.prefixshare.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;

/**
 * Checks of a {@code tokenizer.json} made before the Rust tokenizers library sees it: that library accepts some
 * inconsistent files and then panics, which aborts the whole JVM, or hands a regular expression to Oniguruma that
 * overflows its stack (a segmentation fault). Found by fuzzing:
 * <ul>
 *   <li>a {@code TemplateProcessing} post-processor naming a special token that its {@code special_tokens} map
 *   lacks, or a {@code single} template using sequence B (panics at the first encode);</li>
 *   <li>JSON nested deeper than serde's recursion limit (128), a string holding an unpaired surrogate escape, or a
 *   number out of double range (Jackson reads all three; serde_json refuses them, and inside a decoder that
 *   refusal is a panic while loading);</li>
 *   <li>a {@code {"Regex": ...}} pattern thousands of brackets deep (a segmentation fault compiling it).</li>
 * </ul>
 * Each check turns such a file into an {@link IllegalArgumentException} naming the file and the field.
 */
final class TokenizerJsonCheck {

    /** Nesting a real tokenizer.json never needs (they are 6-8 deep); serde panics past 128. */
    static final int MAX_DEPTH = 64;
    /** Bracket nesting of a pattern no real tokenizer needs (Llama-3's is 3); Oniguruma crashes far beyond it. */
    static final int MAX_PATTERN_DEPTH = 32;
    /** Length of a pattern no real tokenizer needs (Llama-3's has 170 characters). */
    static final int MAX_PATTERN_LENGTH = 16_384;

    private TokenizerJsonCheck() {
    }

    /** Throws when {@code json} (the file's content) would make the Rust library panic. */
    static void check(JsonNode json, Path file) {
        int depth = depth(json);
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException("tokenizer " + file + " is nested " + depth + " levels deep (a "
                    + "tokenizer.json needs fewer than " + MAX_DEPTH + ")");
        }
        values(json, "", file);
        postProcessor(json.get("post_processor"), "post_processor", file);
    }

    /** Strings, numbers and patterns the Rust side refuses or crashes on (iterative: the tree may be deep). */
    private static void values(JsonNode root, String rootPath, Path file) {
        java.util.ArrayDeque<JsonNode> nodes = new java.util.ArrayDeque<>();
        java.util.ArrayDeque<String> paths = new java.util.ArrayDeque<>();
        nodes.push(root);
        paths.push(rootPath);
        while (!nodes.isEmpty()) {
            JsonNode n = nodes.pop();
            String path = paths.pop();
            if (n.isTextual()) {
                if (hasUnpairedSurrogate(n.textValue())) {
                    throw bad(file, path, "holds an unpaired UTF-16 surrogate (\\ud800-\\udfff alone)");
                }
            } else if (n.isNumber()) {
                if (!Double.isFinite(n.asDouble())) {
                    throw bad(file, path, "holds a number out of range (" + n.asText() + ")");
                }
            } else if (n.isObject()) {
                n.fields().forEachRemaining(e -> {
                    String p = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
                    if (hasUnpairedSurrogate(e.getKey())) {
                        throw bad(file, path, "has a key holding an unpaired UTF-16 surrogate");
                    }
                    if (e.getKey().equals("Regex") && e.getValue().isTextual()) {
                        pattern(e.getValue().textValue(), p, file);
                    }
                    nodes.push(e.getValue());
                    paths.push(p);
                });
            } else if (n.isArray()) {
                for (int i = 0; i < n.size(); i++) {
                    nodes.push(n.get(i));
                    paths.push(path + "[" + i + "]");
                }
            }
        }
    }

    private static void pattern(String regex, String path, Path file) {
        if (regex.length() > MAX_PATTERN_LENGTH) {
            throw bad(file, path, "is a pattern of " + regex.length() + " characters (at most "
                    + MAX_PATTERN_LENGTH + ")");
        }
        int depth = 0;
        int max = 0;
        for (int i = 0; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == '\\') {
                i++; // an escaped character is a literal
            } else if (c == '(' || c == '[') {
                max = Math.max(max, ++depth);
            } else if ((c == ')' || c == ']') && depth > 0) {
                depth--;
            }
        }
        if (max > MAX_PATTERN_DEPTH) {
            throw bad(file, path, "is a pattern nested " + max + " brackets deep (at most " + MAX_PATTERN_DEPTH
                    + ")");
        }
    }

    private static boolean hasUnpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return true;
                }
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /** The nesting depth of a tree (iterative: a deep tree must not overflow this stack either). */
    static int depth(JsonNode root) {
        int max = 0;
        java.util.ArrayDeque<JsonNode> nodes = new java.util.ArrayDeque<>();
        java.util.ArrayDeque<Integer> depths = new java.util.ArrayDeque<>();
        nodes.push(root);
        depths.push(1);
        while (!nodes.isEmpty()) {
            JsonNode n = nodes.pop();
            int d = depths.pop();
            max = Math.max(max, d);
            if (n.isContainerNode()) {
                for (JsonNode c : n) {
                    if (c.isContainerNode()) {
                        nodes.push(c);
                        depths.push(d + 1);
                    }
                }
            }
        }
        return max;
    }

    private static void postProcessor(JsonNode p, String where, Path file) {
        if (p == null || p.isNull() || !p.isObject()) {
            return;
        }
        String type = p.path("type").asText();
        if (type.equals("Sequence")) {
            JsonNode list = p.get("processors");
            if (list != null && list.isArray()) {
                for (int i = 0; i < list.size(); i++) {
                    postProcessor(list.get(i), where + ".processors[" + i + "]", file);
                }
            }
        } else if (type.equals("TemplateProcessing")) {
            JsonNode specials = p.get("special_tokens");
            if (specials != null && specials.isObject()) {
                specials.fields().forEachRemaining(e -> {
                    JsonNode ids = e.getValue().get("ids");
                    JsonNode tokens = e.getValue().get("tokens");
                    if (ids == null || !ids.isArray() || tokens == null || !tokens.isArray()
                            || ids.size() != tokens.size()) {
                        throw bad(file, where + ".special_tokens." + e.getKey(),
                                "needs 'ids' and 'tokens' lists of the same length");
                    }
                });
            }
            for (String template : new String[]{"single", "pair"}) {
                JsonNode pieces = p.get(template);
                if (pieces == null || !pieces.isArray()) {
                    continue;
                }
                for (JsonNode piece : pieces) {
                    JsonNode sequence = piece.get("Sequence");
                    if (sequence != null) {
                        String seq = sequence.path("id").asText();
                        if (!(seq.equals("A") || (seq.equals("B") && template.equals("pair")))) {
                            throw bad(file, where + "." + template, "uses sequence '" + seq + "' (a " + template
                                    + " template has " + (template.equals("pair") ? "A and B" : "only A") + ")");
                        }
                    }
                    JsonNode special = piece.get("SpecialToken");
                    if (special == null) {
                        continue;
                    }
                    String id = special.path("id").asText();
                    if (specials == null || !specials.isObject() || !specials.has(id)) {
                        throw bad(file, where + "." + template, "uses the special token '" + id
                                + "', which its special_tokens map does not define");
                    }
                }
            }
        }
    }

    private static IllegalArgumentException bad(Path file, String field, String problem) {
        return new IllegalArgumentException("tokenizer " + file + ": field '" + field + "' " + problem);
    }
}
