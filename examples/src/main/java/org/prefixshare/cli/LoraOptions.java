package org.prefixshare.cli;

import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.hf.ModelSource;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import picocli.CommandLine.Option;

import java.util.Locale;

/**
 * How a command trains the model (PEFT's LoRA options, and activation recompute); shared by the commands that train.
 * The descriptions repeat {@link LoraConfig}'s and {@link DecoderModel.Options}'.
 */
public final class LoraOptions {

    @Option(names = "--lora-r", defaultValue = "0",
            description = "LoRA rank r (0, the default: full fine-tuning). With LoRA the base is frozen and only the "
                    + "adapters train; the reference is the base with its adapters off.")
    public int r;

    @Option(names = "--lora-alpha", defaultValue = "8",
            description = "LoRA alpha: the update is (alpha / r) B A (default ${DEFAULT-VALUE}, PEFT's).")
    public double alpha;

    @Option(names = "--lora-targets", defaultValue = "q_proj,v_proj",
            description = "Adapted projections: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or "
                    + "all-linear (default ${DEFAULT-VALUE}, PEFT's for Llama/Mistral/Qwen2).")
    public String targets;

    @Option(names = "--lora-dropout", defaultValue = "0",
            description = "Dropout on the adapters' input during training (default ${DEFAULT-VALUE}).")
    public double dropout;

    @Option(names = "--lora-rslora", description = "rsLoRA: scale alpha / sqrt(r) instead of alpha / r.")
    public boolean rslora;

    @Option(names = "--gradient-checkpointing",
            description = "Activation recompute: each decoder layer keeps only its input and recomputes the rest "
                    + "in the backward (exactly the same gradients; about a third more compute, far less memory).")
    public boolean recompute;

    @Option(names = "--base-dtype",
            description = "With LoRA, the frozen base's storage: float32 | bfloat16 (default: bfloat16 when the "
                    + "checkpoint is bfloat16, else float32). Computation stays float32.")
    public String baseDtype;

    /** Whether LoRA is on. */
    public boolean enabled() {
        return r > 0;
    }

    /** The adapters' config, naming {@code source}'s directory as the base (null without LoRA). */
    public LoraConfig config(ModelSource source) {
        if (!enabled()) {
            return null;
        }
        String base = source.directory() == null ? source.name() : source.directory().toAbsolutePath().toString();
        return new LoraConfig(r, alpha, dropout, LoraConfig.parseTargets(targets), rslora, base);
    }

    /** The model options these flags ask for on {@code source} (adapters initialised as PEFT does, from seed). */
    public DecoderModel.Options options(ModelSource source, long seed) {
        if (!enabled()) {
            if (baseDtype != null) {
                throw new IllegalArgumentException("--base-dtype applies to a frozen base: give --lora-r too");
            }
            return DecoderModel.Options.FULL.withRecompute(recompute);
        }
        return DecoderModel.Options.lora(config(source), LoraAdapters.initial(seed), baseType(source), recompute);
    }

    /** The frozen base's storage type. */
    public DataType baseType(ModelSource source) {
        DataType compute = source.decoder().dataType();
        String name = baseDtype != null ? baseDtype
                : source.config().torchDtype().equals("bfloat16") && compute == DataType.FLOAT ? "bfloat16"
                : "float32";
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "bfloat16", "bf16" -> {
                if (compute != DataType.FLOAT) {
                    throw new IllegalArgumentException("--base-dtype bfloat16 needs the float32 compute type");
                }
                yield DataType.BFLOAT16;
            }
            case "float32", "float" -> compute;
            default -> throw new IllegalArgumentException("--base-dtype must be float32 or bfloat16, got '"
                    + baseDtype + "'");
        };
    }
}
