package org.prefixshare.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.prefixshare.data.TokenizedExample;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The checkpoints PyTorch wrote for the tests ({@code src/test/resources/hf-fixtures}, made by
 * {@code python/torchref/make_fixtures.py}; the format is in {@code python/torchref/README.md}) and their
 * {@code expected.json}: examples by token ids with their log-probs, a DPO sigmoid loss and one parameter's gradient.
 */
final class HfFixtures {

    /** The model fixtures with their features. */
    static final String LLAMA_BF16_SHARDED = "llama-gqa-bf16-sharded";
    static final String QWEN2_TIED = "qwen2-tied-f32";
    static final String MISTRAL = "mistral-f32";
    static final String LLAMA_LINEAR = "llama-linear-rope-f32";
    static final String LORA = "lora-adapter";
    static final String LORA_RSLORA = "lora-adapter-all-linear-rslora";

    private HfFixtures() {
    }

    static Path dir(String name) {
        Path p = Path.of("src", "test", "resources", "hf-fixtures", name);
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException(p.toAbsolutePath() + " is missing (run python/torchref/make_fixtures.py)");
        }
        return p;
    }

    /** One scored example: ids as PyTorch scored them and the float32 log-probs. */
    record Example(int[] prompt, int[] chosen, int[] rejected, double chosenLogps, double rejectedLogps) {

        TokenizedExample tokenized(long id) {
            return new TokenizedExample(id, "fixture", prompt, List.of(chosen, rejected), 0);
        }
    }

    /** The DPO check: reference log-probs per example, the loss and d loss / d one parameter. */
    record Dpo(double beta, double[] refChosen, double[] refRejected, double loss, String gradParam,
               long[] gradShape, double[] grad, List<ExtraGrad> extraGrads) {
    }

    /** Another parameter's gradient (adapter fixtures). */
    record ExtraGrad(String param, long[] shape, double[] grad) {
    }

    /** A merged tensor W + scale B A (adapter fixtures). */
    record Merged(String name, long[] shape, double[] values) {
    }

    record Expected(List<Example> examples, Dpo dpo, List<Merged> merged, double loraScaling) {
    }

    static Expected expected(String name) {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(dir(name).resolve("expected.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Example> ex = new ArrayList<>();
        for (JsonNode e : n.get("examples")) {
            ex.add(new Example(ints(e.get("prompt_ids")), ints(e.get("chosen_ids")), ints(e.get("rejected_ids")),
                    e.get("chosen_logps").asDouble(), e.get("rejected_logps").asDouble()));
        }
        JsonNode d = n.get("dpo");
        List<ExtraGrad> extra = new ArrayList<>();
        if (d.has("extra_grads")) {
            for (JsonNode g : d.get("extra_grads")) {
                extra.add(new ExtraGrad(g.get("param").asText(), longs(g.get("shape")), doubles(g.get("grad"))));
            }
        }
        Dpo dpo = new Dpo(d.get("beta").asDouble(), doubles(d.get("ref_chosen_logps")),
                doubles(d.get("ref_rejected_logps")), d.get("loss").asDouble(), d.get("grad_param").asText(),
                longs(d.get("grad_shape")), doubles(d.get("grad")), extra);
        List<Merged> merged = new ArrayList<>();
        if (n.has("merged")) {
            n.get("merged").fields().forEachRemaining(f -> merged.add(new Merged(f.getKey(),
                    longs(f.getValue().get("shape")), doubles(f.getValue().get("values")))));
        }
        return new Expected(ex, dpo, merged, n.path("lora_scaling").asDouble(Double.NaN));
    }

    private static int[] ints(JsonNode a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asInt();
        }
        return v;
    }

    private static long[] longs(JsonNode a) {
        long[] v = new long[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asLong();
        }
        return v;
    }

    private static double[] doubles(JsonNode a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asDouble();
        }
        return v;
    }
}
