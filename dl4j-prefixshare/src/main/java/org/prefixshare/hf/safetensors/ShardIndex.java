package org.prefixshare.hf.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The index of a sharded checkpoint, {@code model.safetensors.index.json}:
 * {@code {"metadata": {"total_size": bytes, ...}, "weight_map": {tensor name: shard file name}}}.
 *
 * @param totalSize {@code metadata.total_size}, the bytes of all tensors; null when the index has none
 * @param weightMap tensor name to shard file name, in the index's order
 */
public record ShardIndex(Long totalSize, Map<String, String> weightMap) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    public ShardIndex {
        weightMap = Collections.unmodifiableMap(new LinkedHashMap<>(weightMap));
    }

    /** The index file name for a base name: {@code model} gives {@code model.safetensors.index.json}. */
    public static String fileName(String baseName) {
        return ShardPlan.baseName(baseName) + ".safetensors.index.json";
    }

    /**
     * Reads and checks an index: a JSON object (no duplicate keys) with a {@code weight_map} object of string
     * values naming files inside the index's directory, and an optional {@code metadata} object whose
     * {@code total_size}, when present, is a non-negative integer.
     *
     * @throws SafetensorsException INDEX_INVALID naming the problem, or NOT_FOUND
     */
    public static ShardIndex read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(Rule.NOT_FOUND, file, null, "no such file");
        } catch (CharacterCodingException e) {
            throw invalid(file, "not UTF-8 text");
        } catch (JsonProcessingException e) {
            throw invalid(file, "invalid JSON: " + e.getOriginalMessage() + (e.getLocation() == null ? ""
                    : " at line " + e.getLocation().getLineNr() + " column " + e.getLocation().getColumnNr()));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw invalid(file, "expected a JSON object");
        }
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw invalid(file, map == null ? "'weight_map' is missing" : "'weight_map' is not an object");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        Path dir = file.toAbsolutePath().normalize().getParent();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new SafetensorsException(Rule.INDEX_INVALID, file, e.getKey(),
                        "'weight_map' maps it to " + e.getValue().getNodeType().toString().toLowerCase()
                                + ", not a file name");
            }
            String shard = e.getValue().asText();
            if (!besideIndex(dir, shard)) {
                throw new SafetensorsException(Rule.INDEX_INVALID, file, e.getKey(), "shard file name '"
                        + SafetensorsException.printable(shard) + "' is not a file beside the index");
            }
            weightMap.put(e.getKey(), shard);
        }
        Long totalSize = null;
        JsonNode metadata = root.get("metadata");
        if (metadata != null && !metadata.isNull()) {
            if (!metadata.isObject()) {
                throw invalid(file, "'metadata' is not an object");
            }
            JsonNode size = metadata.get("total_size");
            if (size != null && !size.isNull()) {
                if (!size.isNumber() || !size.canConvertToExactIntegral() || !size.canConvertToLong()
                        || size.asLong() < 0) {
                    throw invalid(file, "'metadata.total_size' is " + size + ", not a byte count");
                }
                totalSize = size.asLong();
            }
        }
        return new ShardIndex(totalSize, weightMap);
    }

    /**
     * Writes the index of {@code plan} as transformers does ({@code json.dumps(index, indent=2, sort_keys=True)}):
     * {@code metadata} with {@code total_parameters} and {@code total_size}, then {@code weight_map} sorted by name.
     * The file is written as {@code <file>.tmp} and renamed.
     */
    public static void write(Path file, ShardPlan plan) {
        JsonStringEncoder enc = JsonStringEncoder.getInstance();
        StringBuilder sb = new StringBuilder("{\n  \"metadata\": {\n");
        sb.append("    \"total_parameters\": ").append(plan.totalParameters()).append(",\n");
        sb.append("    \"total_size\": ").append(plan.totalSize()).append("\n  },\n");
        sb.append("  \"weight_map\": {");
        String sep = "\n";
        for (Map.Entry<String, String> e : plan.weightMap().entrySet()) {
            sb.append(sep).append("    \"").append(enc.quoteAsString(e.getKey())).append("\": \"")
                    .append(enc.quoteAsString(e.getValue())).append('"');
            sep = ",\n";
        }
        sb.append(plan.weightMap().isEmpty() ? "}\n}\n" : "\n  }\n}\n");
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, sb, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new UncheckedIOException(file + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Whether {@code shard} names a file in {@code dir} (or below it), not outside. */
    private static boolean besideIndex(Path dir, String shard) {
        try {
            Path p = Path.of(shard);
            Path resolved = dir.resolve(p).normalize();
            return !shard.isEmpty() && !p.isAbsolute() && resolved.startsWith(dir) && !resolved.equals(dir);
        } catch (InvalidPathException e) {
            return false;
        }
    }

    private static SafetensorsException invalid(Path file, String detail) {
        return new SafetensorsException(Rule.INDEX_INVALID, file, null, detail);
    }
}
