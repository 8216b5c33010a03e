package org.prefixshare.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * An independent plain-Java float64 forward of the decoder on one causal sequence, written from Hugging Face's
 * modeling_llama (RMSNorm, rotate-half RoPE, repeat_kv GQA, softmax attention, SwiGLU, LM head): the oracle of
 * {@link DecoderModel}'s log-probs. Slow and simple on purpose.
 */
final class JavaDecoder {

    private final DecoderConfig c;
    private final Map<String, double[][]> w = new HashMap<>();

    JavaDecoder(DecoderModel model) {
        this.c = model.config();
        for (Map.Entry<String, INDArray> e : model.parameters().entrySet()) {
            INDArray a = e.getValue().castTo(DataType.DOUBLE);
            w.put(e.getKey(), a.rank() == 1 ? new double[][]{a.toDoubleVector()} : a.toDoubleMatrix());
        }
    }

    /** log p(tokens[t+1] | tokens[0..t]) summed over t in [from, len-1), positions 0..len-1. */
    double sequenceLogp(int[] tokens, int from) {
        int n = tokens.length;
        int hd = c.hiddenSize();
        double[][] h = new double[n][];
        for (int t = 0; t < n; t++) {
            h[t] = w.get(DecoderModel.EMBED)[tokens[t]].clone();
        }
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] x = rms(h[t], w.get(p + "input_layernorm.weight")[0]);
                q[t] = rope(add(lin(x, w.get(p + "self_attn.q_proj.weight")), bias(p + "self_attn.q_proj.bias")),
                        c.numHeads(), t);
                k[t] = rope(add(lin(x, w.get(p + "self_attn.k_proj.weight")), bias(p + "self_attn.k_proj.bias")),
                        c.numKvHeads(), t);
                v[t] = add(lin(x, w.get(p + "self_attn.v_proj.weight")), bias(p + "self_attn.v_proj.bias"));
            }
            int d = c.headDim();
            int group = c.numHeads() / c.numKvHeads();
            for (int t = 0; t < n; t++) {
                double[] att = new double[c.numHeads() * d];
                for (int head = 0; head < c.numHeads(); head++) {
                    int kvh = head / group;
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double dot = 0;
                        for (int i = 0; i < d; i++) {
                            dot += q[t][head * d + i] * k[j][kvh * d + i];
                        }
                        s[j] = dot / Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < d; i++) {
                            att[head * d + i] += s[j] / sum * v[j][kvh * d + i];
                        }
                    }
                }
                double[] o = lin(att, w.get(p + "self_attn.o_proj.weight"));
                for (int i = 0; i < hd; i++) {
                    h[t][i] += o[i];
                }
                double[] y = rms(h[t], w.get(p + "post_attention_layernorm.weight")[0]);
                double[] g = lin(y, w.get(p + "mlp.gate_proj.weight"));
                double[] u = lin(y, w.get(p + "mlp.up_proj.weight"));
                for (int i = 0; i < g.length; i++) {
                    g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                }
                double[] m = lin(g, w.get(p + "mlp.down_proj.weight"));
                for (int i = 0; i < hd; i++) {
                    h[t][i] += m[i];
                }
            }
        }
        double[][] head = w.get(c.tieWordEmbeddings() ? DecoderModel.EMBED : DecoderModel.LM_HEAD);
        double total = 0;
        for (int t = from; t < n - 1; t++) {
            double[] logits = lin(rms(h[t], w.get(DecoderModel.FINAL_NORM)[0]), head);
            double max = Double.NEGATIVE_INFINITY;
            for (double z : logits) {
                max = Math.max(max, z);
            }
            double sum = 0;
            for (double z : logits) {
                sum += Math.exp(z - max);
            }
            total += logits[tokens[t + 1]] - max - Math.log(sum);
        }
        return total;
    }

    private double[] bias(String name) {
        double[][] b = w.get(name);
        return b == null ? null : b[0];
    }

    private static double[] add(double[] x, double[] b) {
        if (b != null) {
            for (int i = 0; i < x.length; i++) {
                x[i] += b[i];
            }
        }
        return x;
    }

    private double[] rms(double[] x, double[] g) {
        double ms = 0;
        for (double e : x) {
            ms += e * e;
        }
        double inv = 1 / Math.sqrt(ms / x.length + c.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = g[i] * x[i] * inv;
        }
        return out;
    }

    /** x W^T, W [out][in]. */
    private static double[] lin(double[] x, double[][] wt) {
        double[] y = new double[wt.length];
        for (int o = 0; o < wt.length; o++) {
            double s = 0;
            for (int i = 0; i < x.length; i++) {
                s += x[i] * wt[o][i];
            }
            y[o] = s;
        }
        return y;
    }

    /**
     * HF apply_rotary_pos_emb, per head: x*cos + rotate_half(x)*sin with cos/sin of pos * invFreq[j], the inverse
     * frequencies as transformers computes them (float32 values; see RopeScaling).
     */
    private double[] rope(double[] x, int heads, int pos) {
        int d = c.headDim();
        int half = d / 2;
        double[] invFreq = c.ropeScaling().inverseFrequencies(d, c.ropeTheta());
        double[] out = new double[x.length];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < half; j++) {
                double a = pos * invFreq[j];
                double x1 = x[h * d + j];
                double x2 = x[h * d + j + half];
                out[h * d + j] = x1 * Math.cos(a) - x2 * Math.sin(a);
                out[h * d + j + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
            }
        }
        return out;
    }
}
