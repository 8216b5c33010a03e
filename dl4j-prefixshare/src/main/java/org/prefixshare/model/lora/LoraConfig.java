package org.prefixshare.model.lora;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A LoRA adapter's settings, mirroring PEFT's {@code LoraConfig} and its {@code adapter_config.json} (PEFT's names in
 * brackets). The update of an adapted weight W {@code [out, in]} is {@code scale * B A} with A {@code [r, in]} and B
 * {@code [out, r]}: y = x W^T + scale (dropout(x) A^T) B^T.
 *
 * @param r                    [r] rank
 * @param alpha                [lora_alpha] scale numerator
 * @param dropout              [lora_dropout] dropout on the adapter's input during training (0: none)
 * @param targets              [target_modules] the adapted projections, in {@link LoraTarget} order
 * @param useRslora            [use_rslora] scale alpha / sqrt(r) instead of alpha / r
 * @param baseModelNameOrPath  [base_model_name_or_path] the base model, as the user named it (may be empty)
 */
public record LoraConfig(int r, double alpha, double dropout, Set<LoraTarget> targets, boolean useRslora,
                         String baseModelNameOrPath) {

    /** The adapter's configuration file. */
    public static final String CONFIG_FILE = "adapter_config.json";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    public LoraConfig {
        if (r <= 0) {
            throw new IllegalArgumentException("LoRA rank r must be > 0, got " + r);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("lora_alpha must be finite and > 0, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
        }
        if (targets == null || targets.isEmpty()) {
            throw new IllegalArgumentException("LoRA needs at least one target module");
        }
        targets = Set.copyOf(EnumSet.copyOf(targets));
        baseModelNameOrPath = baseModelNameOrPath == null ? "" : baseModelNameOrPath;
    }

    /** This config naming another base model. */
    public LoraConfig withBaseModel(String nameOrPath) {
        return new LoraConfig(r, alpha, dropout, targets, useRslora, nameOrPath);
    }

    /** The factor of B A: alpha / r, or alpha / sqrt(r) with rsLoRA. */
    public double scale() {
        return useRslora ? alpha / Math.sqrt(r) : alpha / r;
    }

    /** Whether {@code t} is adapted. */
    public boolean targets(LoraTarget t) {
        return targets.contains(t);
    }

    /** The targets in {@link LoraTarget} order. */
    public List<LoraTarget> orderedTargets() {
        return new ArrayList<>(EnumSet.copyOf(targets));
    }

    /**
     * Parses {@code --lora-targets}: PEFT names separated by commas, or {@code all-linear} (every projection of the
     * decoder layers; PEFT's {@code all-linear} also leaves the LM head out).
     */
    public static Set<LoraTarget> parseTargets(String spec) {
        EnumSet<LoraTarget> set = EnumSet.noneOf(LoraTarget.class);
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.equals("all-linear")) {
                set.addAll(EnumSet.allOf(LoraTarget.class));
            } else if (!p.isEmpty()) {
                set.add(LoraTarget.ofPeftName(p));
            }
        }
        if (set.isEmpty()) {
            throw new IllegalArgumentException("--lora-targets names no module: '" + spec + "'");
        }
        return set;
    }

    /** This config as PEFT writes {@code adapter_config.json}. */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.putObject("alpha_pattern");
        o.putNull("auto_mapping");
        o.put("base_model_name_or_path", baseModelNameOrPath);
        o.put("bias", "none");
        o.put("fan_in_fan_out", false);
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        o.put("lora_alpha", alpha);
        o.put("lora_dropout", dropout);
        o.putNull("modules_to_save");
        o.put("peft_type", "LORA");
        o.put("r", r);
        o.putObject("rank_pattern");
        o.putNull("revision");
        ArrayNode t = o.putArray("target_modules");
        orderedTargets().forEach(x -> t.add(x.peftName()));
        o.put("task_type", "CAUSAL_LM");
        o.put("use_dora", false);
        o.put("use_rslora", useRslora);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads an {@code adapter_config.json}; what PEFT could put there that this project does not implement (DoRA,
     * biases, per-module ranks, saved extra modules, layer subsets, other adapter types) is refused by field.
     */
    public static LoraConfig read(Path file) {
        JsonNode n;
        try {
            n = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file (a PEFT adapter directory holds "
                    + CONFIG_FILE + " and adapter_model.safetensors)");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage().split("\n")[0]);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(file + ": must hold a JSON object");
        }
        require(file, n, "peft_type", "LORA", "only LoRA adapters are supported");
        if (n.hasNonNull("task_type")) {
            require(file, n, "task_type", "CAUSAL_LM", "only causal LM adapters are supported");
        }
        if (n.hasNonNull("bias")) {
            require(file, n, "bias", "none", "adapters that train biases are not supported");
        }
        refuseIfSet(file, n, "use_dora", "DoRA is not supported");
        refuseIfSet(file, n, "fan_in_fan_out", "fan_in_fan_out (Conv1D layouts) does not apply to these models");
        refuseIfSet(file, n, "modules_to_save", "extra trained modules are not supported");
        refuseIfSet(file, n, "layers_to_transform", "adapters on a subset of layers are not supported");
        refuseIfSet(file, n, "rank_pattern", "per-module ranks are not supported");
        refuseIfSet(file, n, "alpha_pattern", "per-module alphas are not supported");
        JsonNode tm = n.get("target_modules");
        Set<LoraTarget> targets;
        if (tm != null && tm.isTextual()) {
            if (!tm.asText().equals("all-linear")) {
                throw new IllegalArgumentException(file + ": field 'target_modules': the pattern '" + tm.asText()
                        + "' is not supported; give a list of module names or all-linear");
            }
            targets = EnumSet.allOf(LoraTarget.class);
        } else if (tm != null && tm.isArray()) {
            targets = EnumSet.noneOf(LoraTarget.class);
            for (JsonNode t : tm) {
                try {
                    targets.add(LoraTarget.ofPeftName(t.asText()));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(file + ": field 'target_modules': " + e.getMessage());
                }
            }
        } else {
            throw new IllegalArgumentException(file + ": field 'target_modules': missing or not a list");
        }
        try {
            return new LoraConfig(intField(file, n, "r"), number(file, n, "lora_alpha", 8),
                    number(file, n, "lora_dropout", 0), targets, n.path("use_rslora").asBoolean(false),
                    n.path("base_model_name_or_path").asText(""));
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith(file.toString())) {
                throw e;
            }
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code adapter_config.json} into {@code dir}. */
    public void write(Path dir) throws IOException {
        Files.writeString(dir.resolve(CONFIG_FILE), toJson());
    }

    private static void require(Path file, JsonNode n, String key, String value, String why) {
        String got = n.path(key).asText(null);
        if (!value.equals(got)) {
            throw new IllegalArgumentException(file + ": field '" + key + "' is " + got + ": " + why);
        }
    }

    private static void refuseIfSet(Path file, JsonNode n, String key, String why) {
        JsonNode v = n.get(key);
        boolean set = v != null && !v.isNull() && !(v.isBoolean() && !v.booleanValue())
                && !(v.isContainerNode() && v.isEmpty());
        if (set) {
            throw new IllegalArgumentException(file + ": field '" + key + "' is " + v + ": " + why);
        }
    }

    private static int intField(Path file, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isIntegralNumber()) {
            throw new IllegalArgumentException(file + ": field '" + key + "': missing or not an integer (got " + v
                    + ")");
        }
        return v.intValue();
    }

    private static double number(Path file, JsonNode n, String key, double dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw new IllegalArgumentException(file + ": field '" + key + "': not a number (got " + v + ")");
        }
        return v.doubleValue();
    }
}
