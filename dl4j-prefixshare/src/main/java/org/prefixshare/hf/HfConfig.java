package org.prefixshare.hf;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.RopeScaling;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A Hugging Face {@code config.json} of a Llama, Mistral or Qwen2 causal LM, read the way transformers reads it:
 * every field that changes the model's arithmetic is honoured or refused with an error naming the file and the field
 * (never silently ignored), and the rest of the JSON is kept so that an exported directory carries the user's config
 * back unchanged but for what training changed.
 *
 * <p>Honoured: {@code vocab_size}, {@code hidden_size}, {@code num_hidden_layers}, {@code num_attention_heads},
 * {@code num_key_value_heads}, {@code head_dim}, {@code intermediate_size}, {@code rope_theta}, {@code rope_scaling}
 * (types {@code linear} and {@code llama3}), {@code rms_norm_eps}, {@code tie_word_embeddings}, q/k/v biases
 * (Qwen2 always has them, Llama and Mistral never), {@code sliding_window} (Mistral; Qwen2 with
 * {@code use_sliding_window}: sequences longer than the window are refused), {@code hidden_act} ({@code silu}),
 * {@code torch_dtype}. Refused: other {@code model_type}s, other RoPE scalings, other activations, Llama's
 * {@code attention_bias} (biases on q, k, v and o_proj) and {@code mlp_bias}, quantised checkpoints.
 *
 * @param modelType  {@code llama}, {@code mistral} or {@code qwen2}
 * @param decoder    the architecture (its data type is the compute type asked for, FLOAT by default)
 * @param torchDtype the checkpoint's declared dtype ({@code float32}, {@code bfloat16}, {@code float16})
 * @param json       the whole config object as read (a copy; presets build one)
 */
public record HfConfig(String modelType, DecoderConfig decoder, String torchDtype, ObjectNode json) {

    /** The model types we read. */
    public static final List<String> MODEL_TYPES = List.of("llama", "mistral", "qwen2");

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final Set<String> DTYPES = Set.of("float32", "bfloat16", "float16", "float64");

    public HfConfig {
        if (!MODEL_TYPES.contains(modelType)) {
            throw new IllegalArgumentException("model_type must be one of " + MODEL_TYPES + ", got " + modelType);
        }
        if (!DTYPES.contains(torchDtype)) {
            throw new IllegalArgumentException("torch_dtype must be one of " + DTYPES + ", got " + torchDtype);
        }
        json = json.deepCopy();
    }

    @Override
    public ObjectNode json() {
        return json.deepCopy();
    }

    /** Reads {@code config.json}; errors name the file and the field. */
    public static HfConfig read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file (a Hugging Face model directory holds "
                    + "config.json beside its safetensors weights)");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
        }
        return parse(text, file.toString());
    }

    /** Parses config JSON; {@code source} names it in errors. */
    public static HfConfig parse(String text, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(source + ": not valid JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + ": must hold a JSON object");
        }
        return new Reader((ObjectNode) root, source).config();
    }

    /** This config with the decoder's compute type set to {@code type} (FLOAT on CPU; DOUBLE for checks). */
    public HfConfig withComputeType(DataType type) {
        return new HfConfig(modelType, decoder.withDataType(type), torchDtype, json);
    }

    /** This config with {@code layers} decoder layers (a model's shape at a fraction of its depth). */
    public HfConfig withNumLayers(int layers) {
        ObjectNode j = json();
        j.put("num_hidden_layers", layers);
        return new HfConfig(modelType, decoder.withNumLayers(layers), torchDtype, j);
    }

    /** This config declaring another checkpoint dtype ({@code float32} or {@code bfloat16}, ...). */
    public HfConfig withTorchDtype(String dtype) {
        ObjectNode j = json();
        j.put("torch_dtype", dtype);
        return new HfConfig(modelType, decoder, dtype, j);
    }

    /** The config as {@code config.json} text (pretty-printed, keys in their original order). */
    public String toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes {@code config.json} into {@code dir}. */
    public void write(Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), toJson());
    }

    // ------------------------------------------------------------------------------------------------ presets

    /** Preset names (see {@link DecoderConfig#PRESETS}). */
    public static List<String> presets() {
        return DecoderConfig.PRESETS;
    }

    /**
     * A preset as a complete Hugging Face config: {@code tiny} and {@code small} as Llama with the byte tokenizer's
     * vocabulary; {@code mistral-7b}, {@code llama-3-8b}, {@code qwen2-7b} as their published configs.
     */
    public static HfConfig preset(String name) {
        DecoderConfig d = DecoderConfig.preset(name);
        String n = name.toLowerCase(Locale.ROOT);
        return switch (n) {
            case "mistral-7b" -> of("mistral", d, "bfloat16", 32768, 1, 2);
            case "llama-3-8b" -> of("llama", d, "bfloat16", 8192, 128000, 128001);
            case "qwen2-7b" -> of("qwen2", d, "bfloat16", 131072, 151643, 151643);
            default -> of("llama", d, "float32", 4096, -1, -1);
        };
    }

    /**
     * A config for {@code d} as transformers would write it, in the model type that has its features: Qwen2 when it
     * has q/k/v biases (with {@code use_sliding_window} when it has a window), Mistral when it has a sliding window,
     * else Llama.
     */
    public static HfConfig of(DecoderConfig d) {
        String type = d.attentionBias() ? "qwen2" : d.slidingWindow() > 0 ? "mistral" : "llama";

        return of(type, d, d.dataType() == DataType.DOUBLE ? "float64" : "float32", 4096, -1, -1);
    }

    /** A config for {@code decoder} in {@code modelType}'s keys, as transformers would write it. */
    public static HfConfig of(String modelType, DecoderConfig d, String torchDtype, int maxPositions, int bosId,
                              int eosId) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode arch = o.putArray("architectures");
        arch.add(switch (modelType) {
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> "LlamaForCausalLM";
        });
        o.put("model_type", modelType);
        o.put("vocab_size", d.vocabSize());
        o.put("hidden_size", d.hiddenSize());
        o.put("intermediate_size", d.intermediateSize());
        o.put("num_hidden_layers", d.numLayers());
        o.put("num_attention_heads", d.numHeads());
        o.put("num_key_value_heads", d.numKvHeads());
        o.put("head_dim", d.headDim());
        o.put("hidden_act", "silu");
        o.put("max_position_embeddings", maxPositions);
        o.put("rms_norm_eps", d.rmsNormEps());
        o.put("rope_theta", d.ropeTheta());
        if (d.ropeScaling().type() == RopeScaling.Type.NONE) {
            o.putNull("rope_scaling");
        } else {
            ObjectNode rs = o.putObject("rope_scaling");
            rs.put("rope_type", d.ropeScaling().type().hfName());
            rs.put("factor", d.ropeScaling().factor());
            if (d.ropeScaling().type() == RopeScaling.Type.LLAMA3) {
                rs.put("low_freq_factor", d.ropeScaling().lowFreqFactor());
                rs.put("high_freq_factor", d.ropeScaling().highFreqFactor());
                rs.put("original_max_position_embeddings", d.ropeScaling().originalMaxPositions());
            }
        }
        o.put("tie_word_embeddings", d.tieWordEmbeddings());
        if (modelType.equals("llama")) {
            o.put("attention_bias", false);
            o.put("mlp_bias", false);
        } else if (modelType.equals("qwen2")) {
            o.put("use_sliding_window", d.slidingWindow() > 0);
            o.put("sliding_window", d.slidingWindow() > 0 ? d.slidingWindow() : maxPositions);
        }
        if (modelType.equals("mistral")) {
            if (d.slidingWindow() > 0) {
                o.put("sliding_window", d.slidingWindow());
            } else {
                o.putNull("sliding_window");
            }
        }
        if (bosId >= 0) {
            o.put("bos_token_id", bosId);
        }
        if (eosId >= 0) {
            o.put("eos_token_id", eosId);
        }
        o.put("torch_dtype", torchDtype);
        return new HfConfig(modelType, d, torchDtype, o);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    // ------------------------------------------------------------------------------------------------ reading

    /** One parse: field access with errors that name the file and the field. */
    private record Reader(ObjectNode n, String source) {

        HfConfig config() {
            String type = text("model_type", null);
            if (type == null) {
                throw error("model_type", "missing; expected one of " + MODEL_TYPES);
            }
            if (!MODEL_TYPES.contains(type)) {
                throw error("model_type", "'" + type + "' is not supported; supported: " + MODEL_TYPES);
            }
            if (n.hasNonNull("quantization_config")) {
                throw error("quantization_config", "quantised checkpoints are not supported; give the unquantised "
                        + "(float32/bfloat16/float16) model");
            }
            String act = text("hidden_act", "silu");
            if (!act.equals("silu")) {
                throw error("hidden_act", "'" + act + "' is not supported (Llama, Mistral and Qwen2 use silu)");
            }
            if (bool("mlp_bias", false)) {
                throw error("mlp_bias", "true is not supported (MLP projections without bias only)");
            }
            int hidden = requiredInt("hidden_size");
            int heads = requiredInt("num_attention_heads");
            int kvHeads = optionalInt("num_key_value_heads", heads);
            Integer headDimGiven = n.hasNonNull("head_dim") ? requiredInt("head_dim") : null;
            if (headDimGiven == null && hidden % heads != 0) {
                throw error("head_dim", "absent, and hidden_size " + hidden + " is not a multiple of "
                        + "num_attention_heads " + heads);
            }
            int headDim = headDimGiven != null ? headDimGiven : hidden / heads;
            if (type.equals("llama") && bool("attention_bias", false)) {
                throw error("attention_bias", "true is not supported for llama (it puts biases on q, k, v and "
                        + "o_proj; only Qwen2's q/k/v biases are implemented)");
            }
            boolean bias = type.equals("qwen2");
            int window = slidingWindow(type);
            String dtype = text(n.has("torch_dtype") ? "torch_dtype" : "dtype", "float32");
            if (!DTYPES.contains(dtype)) {
                throw error("torch_dtype", "'" + dtype + "' is not supported; expected one of " + DTYPES);
            }
            try {
                DecoderConfig d = new DecoderConfig(requiredInt("vocab_size"), hidden, requiredInt("num_hidden_layers"),
                        heads, kvHeads, headDim, requiredInt("intermediate_size"), number("rope_theta", 10000.0),
                        number("rms_norm_eps", 1e-6), bool("tie_word_embeddings", false), DataType.FLOAT, bias,
                        ropeScaling(), window);
                return new HfConfig(type, d, dtype, n);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
            }
        }

        private int slidingWindow(String type) {
            if (type.equals("llama")) {
                return 0;
            }
            if (type.equals("qwen2") && !bool("use_sliding_window", false)) {
                return 0;
            }
            return n.hasNonNull("sliding_window") ? requiredInt("sliding_window") : 0;
        }

        private RopeScaling ropeScaling() {
            JsonNode rs = n.get("rope_scaling");
            if (rs == null || rs.isNull()) {
                return RopeScaling.NONE;
            }
            if (!rs.isObject()) {
                throw error("rope_scaling", "must be an object or null, got " + rs);
            }
            JsonNode t = rs.hasNonNull("rope_type") ? rs.get("rope_type") : rs.get("type");
            String type = t == null || t.isNull() ? "default" : t.asText();
            try {
                return switch (type) {
                    case "default" -> RopeScaling.NONE;
                    case "linear" -> RopeScaling.linear(scalingNumber(rs, "factor"));
                    case "llama3" -> RopeScaling.llama3(scalingNumber(rs, "factor"),
                            scalingNumber(rs, "low_freq_factor"), scalingNumber(rs, "high_freq_factor"),
                            (int) scalingNumber(rs, "original_max_position_embeddings"));
                    default -> throw error("rope_scaling", "type '" + type + "' is not supported; supported: "
                            + "linear, llama3 (or none)");
                };
            } catch (IllegalArgumentException e) {
                if (e.getMessage().startsWith(source)) {
                    throw e;
                }
                throw error("rope_scaling", e.getMessage());
            }
        }

        private double scalingNumber(JsonNode rs, String key) {
            JsonNode v = rs.get(key);
            if (v == null || !v.isNumber()) {
                throw error("rope_scaling." + key, "missing or not a number (got " + v + ")");
            }
            return v.asDouble();
        }

        private int requiredInt(String key) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                throw error(key, "missing (a required integer)");
            }
            if (!v.canConvertToInt() || !v.isIntegralNumber()) {
                throw error(key, "must be an integer, got " + v);
            }
            return v.intValue();
        }

        private int optionalInt(String key, int dflt) {
            return n.hasNonNull(key) ? requiredInt(key) : dflt;
        }

        private double number(String key, double dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isNumber()) {
                throw error(key, "must be a number, got " + v);
            }
            return v.doubleValue();
        }

        private boolean bool(String key, boolean dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isBoolean()) {
                throw error(key, "must be true or false, got " + v);
            }
            return v.booleanValue();
        }

        private String text(String key, String dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isTextual()) {
                throw error(key, "must be a string, got " + v);
            }
            return v.textValue();
        }

        private IllegalArgumentException error(String field, String problem) {
            return new IllegalArgumentException(source + ": field '" + field + "': " + problem);
        }
    }
}
