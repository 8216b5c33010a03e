package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The graph against an independent plain-Java forward, names, parameter I/O and feed checks. */
public class DecoderModelTest {

    public static List<TokenizedExample> examples(long seed, int n, int vocab) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TokenizedExample> ex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ex.add(EquivalenceCheck.randomExample(rnd, i, vocab, 9, 7, i == 0 ? 3 : 0));
        }
        // the edge cases explicitly: empty prompt, one-token prompt
        ex.add(new TokenizedExample(n, "empty", new int[0], List.of(new int[]{5, 6, 7}, new int[]{8, 9}), 0));
        ex.add(new TokenizedExample(n + 1, "one", new int[]{11}, List.of(new int[]{12}, new int[]{13, 14, 15}), 0));
        return ex;
    }

    private static void checkAgainstJava(DecoderConfig cfg, PrefixShareOps.Implementation impl) {
        DecoderModel model = DecoderModel.create(cfg, 7, impl, 0.1);
        JavaDecoder java = new JavaDecoder(model);
        List<TokenizedExample> ex = examples(3, 5, cfg.vocabSize());
        for (LayoutBatch b : List.of(EquivalenceCheck.sharedBatch(ex, 4, 2), EquivalenceCheck.pairedBatch(ex, 1))) {
            INDArray lp = model.logps(b);
            assertEquals(b.sequences().size(), lp.length());
            for (int s = 0; s < b.sequences().size(); s++) {
                SequenceInfo si = b.sequences().get(s);
                TokenizedExample e = ex.get((int) si.exampleId());
                double expected = java.sequenceLogp(e.paired(si.rank()), Math.max(e.promptLength() - 1, 0));
                double rel = Math.abs(lp.getDouble(s) - expected) / Math.abs(expected);
                assertTrue(rel <= 1e-9, cfg + " " + impl + ": sequence " + si + " graph " + lp.getDouble(s)
                        + " vs plain Java " + expected + " (rel " + rel + ")\n" + b.rows().get(0).describe(80));
            }
        }
    }

    @Test
    void logpsEqualAPlainJavaForwardOfEachPairedSequence() {
        checkAgainstJava(DecoderConfig.tiny().withDataType(DataType.DOUBLE), PrefixShareOps.Implementation.AUTO);
    }

    @Test
    void tiedEmbeddingsAndQkvBiasesAndMhaWithTheReferenceAttention() {
        DecoderConfig cfg = new DecoderConfig(260, 32, 2, 2, 2, 16, 40, 500000.0, 1e-5, true, DataType.DOUBLE, true);
        checkAgainstJava(cfg, PrefixShareOps.Implementation.REFERENCE);
    }

    @Test
    void parametersCarryHuggingFaceNamesAndLayouts() {
        DecoderModel m = DecoderModel.create(DecoderConfig.tiny(), 1);
        List<String> names = m.parameterNames();
        assertEquals("model.embed_tokens.weight", names.get(0));
        assertTrue(names.contains("model.layers.0.self_attn.q_proj.weight"));
        assertTrue(names.contains("model.layers.1.mlp.down_proj.weight"));
        assertTrue(names.contains("model.norm.weight"));
        assertTrue(names.contains("lm_head.weight"));
        Map<String, INDArray> p = m.parameters();
        assertEquals(64, p.get("model.layers.0.self_attn.q_proj.weight").shape()[0]);
        assertEquals(32, p.get("model.layers.0.self_attn.k_proj.weight").shape()[0]);   // [Hkv*D, H]: [out, in]
        assertEquals(176, p.get("model.layers.0.mlp.gate_proj.weight").shape()[0]);
        assertEquals(64, p.get("model.layers.0.mlp.down_proj.weight").shape()[0]);
        assertEquals(176, p.get("model.layers.0.mlp.down_proj.weight").shape()[1]);
        assertEquals(1.0, p.get("model.norm.weight").meanNumber().doubleValue(), 0.0);
        double std = p.get("model.layers.0.mlp.up_proj.weight").stdNumber().doubleValue();
        assertEquals(0.02, std, 0.002);
        long n = 0;
        for (INDArray a : p.values()) {
            n += a.length();
        }
        assertEquals(m.parameterCount(), n);
        assertFalse(DecoderConfig.small().parameterShapes().containsKey("lm_head.weight"), "small ties embeddings");
    }

    @Test
    void smallPresetBuildsAndScoresInFloat32() {
        DecoderModel m = DecoderModel.create(DecoderConfig.small(), 1);
        List<TokenizedExample> ex = examples(8, 2, 260);
        INDArray lp = m.logps(EquivalenceCheck.sharedBatch(ex, ex.size(), 3));
        for (int s = 0; s < lp.length(); s++) {
            assertTrue(Double.isFinite(lp.getDouble(s)) && lp.getDouble(s) < 0, "logp " + lp);
        }
    }

    @Test
    void sameSeedSameWeightsAndSetParametersCopies() {
        DecoderModel a = DecoderModel.create(DecoderConfig.tiny(), 5);
        DecoderModel b = DecoderModel.create(DecoderConfig.tiny(), 5);
        DecoderModel c = DecoderModel.create(DecoderConfig.tiny(), 6);
        assertEquals(a.parameters(), b.parameters());
        assertFalse(a.parameters().get(DecoderModel.EMBED).equals(c.parameters().get(DecoderModel.EMBED)));
        c.setParameters(a.parameters());
        assertEquals(a.parameters(), c.parameters());
        Map<String, INDArray> bad = new java.util.HashMap<>(a.parameters());
        bad.remove(DecoderModel.FINAL_NORM);
        assertThrows(IllegalArgumentException.class, () -> c.setParameters(bad));
    }

    @Test
    void feedsRejectTokensOutsideTheVocabulary() {
        List<TokenizedExample> ex = List.of(new TokenizedExample(0, "x", new int[]{1, 300}, List.of(new int[]{4},
                new int[]{5}), 0));
        LayoutBatch b = EquivalenceCheck.pairedBatch(ex, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DecoderFeeds.of(b, DecoderConfig.tiny()));
        assertTrue(e.getMessage().contains("300"), e.getMessage());
    }

    /**
     * Ids, positions, layout and label indices stay exact integers whatever the model type: a bfloat16 holds integers
     * exactly only up to 256 and a float16 up to 2048, but a 32,000-token vocabulary and 4,096-token rows need more.
     */
    @Test
    void feedsCarryIntegersExactlyForSixteenBitModels() {
        int vocab = 32000;
        java.util.Random rnd = new java.util.Random(3);
        int[] prompt = new int[2000];
        int[][] resp = new int[2][1040];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = vocab - 1 - rnd.nextInt(4000);
        }
        for (int[] r : resp) {
            for (int i = 0; i < r.length; i++) {
                r[i] = vocab - 1 - rnd.nextInt(4000);
            }
        }
        TokenizedExample ex = new TokenizedExample(0, "x", prompt, List.of(resp[0], resp[1]), 0);
        org.prefixshare.layout.Segment seg = org.prefixshare.layout.SharedLayoutBuilder.build(ex);
        List<org.prefixshare.layout.SequenceInfo> seqs = new java.util.ArrayList<>();
        LayoutBatch b = new LayoutBatch(List.of(org.prefixshare.layout.RowAssembler.assemble(List.of(seg), 4096, 0, 0,
                seqs)), seqs);
        for (org.nd4j.linalg.api.buffer.DataType dt : List.of(org.nd4j.linalg.api.buffer.DataType.BFLOAT16,
                org.nd4j.linalg.api.buffer.DataType.HALF)) {
            DecoderConfig cfg = new DecoderConfig(vocab, 8, 1, 2, 1, 4, 8, 1e4, 1e-6, false, dt);
            DecoderFeeds f = DecoderFeeds.of(b, cfg);
            org.prefixshare.layout.RowLayout row = b.rows().get(0);
            int labelled = 0;
            int maxPosition = 0;
            for (int t = 0; t < 4096; t++) {
                maxPosition = Math.max(maxPosition, row.position(t));
                assertEquals(row.token(t), f.token().getInt(0, t), "token " + t);
                assertEquals(row.position(t), f.position().getInt(0, t), "position " + t);
                assertEquals(row.node(t), f.node().getInt(0, t), "node " + t);
                assertEquals(row.subtreeEnd(t), f.subtreeEnd().getInt(0, t), "subtreeEnd " + t);
                if (row.label(t) >= 0) {
                    assertEquals(t, f.labelIndex().getInt(labelled), "label index");
                    assertEquals(row.label(t), f.labelToken().getInt(labelled), "label");
                    labelled++;
                }
            }
            assertEquals(f.labels(), labelled);
            assertTrue(labelled > 2000 && maxPosition > 2048, "rows long enough to break a float16");
            assertEquals(DecoderFeeds.INDEX_TYPE, f.token().dataType());
            assertEquals(org.nd4j.linalg.api.buffer.DataType.FLOAT, f.seqMatrix().dataType(),
                    "per-sequence sums in float32 at least");
        }
    }
}
