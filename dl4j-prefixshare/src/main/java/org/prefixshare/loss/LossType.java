package org.prefixshare.loss;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

import org.nd4j.autodiff.samediff.SDVariable;

import static org.prefixshare.loss.SdMath.logSigmoid;
import static org.prefixshare.loss.SdMath.sigmoid;

/**
 * The preference-optimisation loss family, named and defined as in Hugging Face TRL ({@code trl/trainer/dpo_trainer.py},
 * {@code cpo_trainer.py}, {@code orpo_trainer.py}).
 *
 * <p>Notation used in the formulas (all per pair, then averaged over the pairs of the batch):
 * <ul>
 *   <li>{@code pi_c, pi_r}: policy log-probabilities of the chosen / rejected response, summed over the response tokens;</li>
 *   <li>{@code ref_c, ref_r}: the same under the reference model;</li>
 *   <li>{@code n_c, n_r}: response token counts (clamped to at least 1, as TRL does);</li>
 *   <li>{@code s_c = pi_c - ref_c}, {@code s_r = pi_r - ref_r} (TRL's {@code chosen_scores} / {@code rejected_scores},
 *       reverse-KL f-divergence), {@code d = s_c - s_r} (TRL's {@code delta_score});</li>
 *   <li>{@code a_c = pi_c / n_c}, {@code a_r = pi_r / n_r}: length-averaged policy log-probs (TRL's
 *       {@code average_log_prob=True}, used by SimPO and ORPO);</li>
 *   <li>{@code NLL = -sum(pi_c) / sum(n_c)}: token-mean negative log-likelihood of the chosen responses of the batch
 *       (TRL's cross-entropy over the chosen completion tokens);</li>
 *   <li>{@code b} = beta, {@code e} = label smoothing, {@code ls(x)} = log sigmoid(x), {@code sg(x)} = sigmoid(x).</li>
 * </ul>
 *
 * <p>Each constant carries its TRL name ({@link #trlName()}), whether it needs reference log-probs
 * ({@link #needsReference()}) and its paper ({@link #paper()}). Parse a name with {@link #fromName(String)}.
 */
public enum LossType {

    /**
     * DPO, Rafailov et al. 2023, "Direct Preference Optimization" (arXiv 2305.18290), Eq. 7; with label smoothing
     * {@code e > 0} the conservative cDPO of Mitchell 2023 (https://ericmitchell.ai/cdpo.pdf), Eq. 3:
     * {@code -(1-e) ls(b d) - e ls(-b d)}.
     */
    SIGMOID("sigmoid", true, "DPO, arXiv 2305.18290 (cDPO with label_smoothing: ericmitchell.ai/cdpo.pdf)") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return smoothedSigmoid(r.delta().mul(c.beta()), c.labelSmoothing());
        }
    },

    /**
     * Robust DPO, Chowdhury et al. 2024, "Provably Robust DPO" (arXiv 2403.00409), Eq. 21: an unbiased estimate under
     * preference-flip rate {@code e}: {@code (-(1-e) ls(b d) + e ls(-b d)) / (1 - 2e)}.
     */
    ROBUST("robust", true, "Robust DPO, arXiv 2403.00409") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            double e = c.labelSmoothing();
            SDVariable x = r.delta().mul(c.beta());
            SDVariable clean = logSigmoid(x).mul(-(1.0 - e));
            SDVariable flipped = logSigmoid(x.neg()).mul(-e);
            return clean.sub(flipped).div(1.0 - 2.0 * e);
        }
    },

    /** Hinge loss of SLiC, Zhao et al. 2023 (arXiv 2305.10425): {@code relu(1 - b d)}. */
    HINGE("hinge", true, "SLiC, arXiv 2305.10425") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return SdMath.relu(r.delta().mul(-c.beta()).add(1.0));
        }
    },

    /**
     * IPO, Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences" (arXiv
     * 2310.12036), Eq. 17 with beta as the regulariser tau, on length-normalised scores as TRL does:
     * {@code (s_c/n_c - s_r/n_r - 1/(2b))^2}.
     */
    IPO("ipo", true, "IPO, arXiv 2310.12036") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable d = r.chosenScores().div(r.chosenTokens()).sub(r.rejectedScores().div(r.rejectedTokens()));
            return r.sd().math().square(d.sub(1.0 / (2.0 * c.beta())));
        }
    },

    /**
     * Pairwise EXO, Ji et al. 2024, "Towards Efficient Exact Optimization of Language Model Alignment" (arXiv
     * 2402.00856), Eq. 16: {@code sg(b d)(ls(b d) - log(1-e)) + sg(-b d)(ls(-b d) - log e)} with
     * {@code e = }{@link LossConfig#exoEpsilon()} (label smoothing, 1e-3 when it is 0, as TRL did).
     */
    EXO_PAIR("exo_pair", true, "EXO, arXiv 2402.00856") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            double e = c.exoEpsilon();
            SDVariable x = r.delta().mul(c.beta());
            SDVariable win = sigmoid(x).mul(logSigmoid(x).sub(Math.log1p(-e)));
            SDVariable lose = sigmoid(x.neg()).mul(logSigmoid(x.neg()).sub(Math.log(e)));
            return win.add(lose);
        }
    },

    /**
     * Pairwise NCA, Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards" (arXiv
     * 2402.05369): {@code -ls(b s_c) - 0.5 ls(-b s_c) - 0.5 ls(-b s_r)}.
     */
    NCA_PAIR("nca_pair", true, "NCA, arXiv 2402.05369") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable rc = r.chosenScores().mul(c.beta());
            SDVariable rr = r.rejectedScores().mul(c.beta());
            return logSigmoid(rc).neg().sub(logSigmoid(rc.neg()).mul(0.5)).sub(logSigmoid(rr.neg()).mul(0.5));
        }
    },

    /**
     * Pairwise BCO, Jung et al. 2024, "Binary Classifier Optimization for Large Language Model Alignment" (arXiv
     * 2404.04656): {@code -ls(b s_c - delta) - ls(-(b s_r - delta))} where {@code delta} is the running mean of the
     * rewards, an explicit input ({@link PairLogps#bcoDelta()}, maintained by {@link BcoRunningMean}). TRL main
     * dropped the running mean (delta = 0); feed 0 to get that behaviour.
     */
    BCO_PAIR("bco_pair", true, "BCO, arXiv 2404.04656") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable delta = r.bcoDelta();
            SDVariable xc = r.chosenScores().mul(c.beta()).sub(delta);
            SDVariable xr = r.rejectedScores().mul(c.beta()).sub(delta);
            return logSigmoid(xc).neg().sub(logSigmoid(xr.neg()));
        }
    },

    /**
     * SPPO with hard labels, Wu et al. 2024, "Self-Play Preference Optimization" (arXiv 2405.00675), Eq. 4.7 with
     * P = 1 for the winner and 0 for the loser: {@code (s_c - 0.5/b)^2 + (s_r + 0.5/b)^2}.
     */
    SPPO_HARD("sppo_hard", true, "SPPO, arXiv 2405.00675") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            double h = 0.5 / c.beta();
            return r.sd().math().square(r.chosenScores().sub(h)).add(r.sd().math().square(r.rejectedScores().add(h)));
        }
    },

    /**
     * APO-zero, D'Oosterlinck et al. 2024, "Anchored Preference Optimization" (arXiv 2408.06266), Eq. 7 (chosen
     * outputs better than the model's): {@code 1 - sg(b s_c) + sg(b s_r)}.
     */
    APO_ZERO("apo_zero", true, "APO, arXiv 2408.06266") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return sigmoid(r.chosenScores().mul(c.beta())).rsub(1.0).add(sigmoid(r.rejectedScores().mul(c.beta())));
        }
    },

    /**
     * APO-down, D'Oosterlinck et al. 2024 (arXiv 2408.06266), Eq. 8 (chosen outputs worse than the model's):
     * {@code sg(b s_c) + 1 - sg(b d)}.
     */
    APO_DOWN("apo_down", true, "APO, arXiv 2408.06266") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return sigmoid(r.chosenScores().mul(c.beta())).add(sigmoid(r.delta().mul(c.beta())).rsub(1.0));
        }
    },

    /**
     * DiscoPOP / log-ratio modulated loss, Chris Lu et al. 2024, "Discovering Preference Optimization Algorithms with
     * and for Large Language Models" (arXiv 2406.08414), Eq. 5: with {@code l = b d}, {@code m = sg(l / tau)}:
     * {@code -ls(l) (1 - m) + exp(-l) m}.
     */
    DISCOPOP("discopop", true, "DiscoPOP, arXiv 2406.08414") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable l = r.delta().mul(c.beta());
            SDVariable m = sigmoid(l.div(c.discopopTau()));
            SDVariable logistic = logSigmoid(l).neg();
            SDVariable exp = r.sd().math().exp(l.neg());
            return logistic.mul(m.rsub(1.0)).add(exp.mul(m));
        }
    },

    /**
     * Length-normalised DPO: {@code -ls(b (s_c/n_c - s_r/n_r))}, the sigmoid loss on per-token log-ratios (the
     * length normalisation of SimPO, Meng et al. 2024, arXiv 2405.14734, Eq. 4, kept with the reference model).
     *
     * <p>Provenance: TRL's own source with this branch was not available to us; the formula is taken from two
     * independent transcriptions of TRL's {@code loss_type="sigmoid_norm"} branch (a write-up quoting
     * {@code dpo_trainer.py} of TRL 1.7, PR #5406, and a JAX port), which agree: {@code chosen_scores} and
     * {@code rejected_scores} divided by the completion token counts clamped to 1, then {@code -logsigmoid(beta * delta)}.
     */
    SIGMOID_NORM("sigmoid_norm", true, "length-normalised DPO (SimPO normalisation, arXiv 2405.14734)") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable d = r.chosenScores().div(r.chosenTokens()).sub(r.rejectedScores().div(r.rejectedTokens()));
            return logSigmoid(d.mul(c.beta())).neg();
        }
    },

    /**
     * Supervised fine-tuning term: the token-mean NLL of the chosen responses, {@code -sum(pi_c) / sum(n_c)} (TRL's
     * {@code sft} loss type, a cross-entropy over all chosen completion tokens of the batch). Combined with
     * {@link #SIGMOID} it gives RPO, Pang et al. 2024, "Iterative Reasoning Preference Optimization" (arXiv
     * 2404.19733): see {@link LossConfig#rpo(double, double)}.
     */
    SFT("sft", false, "NLL of the chosen response; RPO = sigmoid + sft, arXiv 2404.19733") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return null; // batch-level term
        }

        @Override
        SDVariable term(LogRatios r, LossConfig c) {
            return r.chosenNll();
        }
    },

    /**
     * SimPO, Meng et al. 2024, "Simple Preference Optimization with a Reference-Free Reward" (arXiv 2405.14734),
     * Eq. 6, as TRL's CPO trainer with {@code loss_type="simpo"}: reference-free, on length-averaged log-probs, with
     * target margin gamma: {@code l = (a_c - a_r) - gamma/b}, {@code -(1-e) ls(b l) - e ls(-b l)}. (TRL's default
     * {@code cpo_alpha=1} would add the NLL; here add an {@link #SFT} term for that, or use {@link #CPO}.)
     */
    SIMPO("simpo", false, "SimPO, arXiv 2405.14734") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            SDVariable l = r.chosenAvg().sub(r.rejectedAvg()).sub(c.simpoGamma() / c.beta());
            return smoothedSigmoid(l.mul(c.beta()), c.labelSmoothing());
        }
    },

    /**
     * CPO, Xu et al. 2024, "Contrastive Preference Optimization" (arXiv 2401.08417), Eq. 3, as TRL's CPO trainer with
     * {@code loss_type="sigmoid"}: reference-free on summed log-probs plus {@code cpo_alpha} times the NLL of the
     * chosen responses: {@code mean(-(1-e) ls(b (pi_c - pi_r)) - e ls(-b (pi_c - pi_r))) + alpha NLL}.
     */
    CPO("cpo", false, "CPO, arXiv 2401.08417") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            return smoothedSigmoid(r.chosen().sub(r.rejected()).mul(c.beta()), c.labelSmoothing());
        }

        @Override
        SDVariable term(LogRatios r, LossConfig c) {
            SDVariable pref = r.sd().mean(perPair(r, c));
            return c.cpoAlpha() == 0.0 ? pref : pref.add(r.chosenNll().mul(c.cpoAlpha()));
        }
    },

    /**
     * ORPO, Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model" (arXiv 2403.07691),
     * Eqs. 4 and 7, as TRL's ORPO trainer: on length-averaged log-probs,
     * {@code log_odds = (a_c - a_r) - (log1p(-exp(a_c)) - log1p(-exp(a_r)))}, loss
     * {@code NLL - b mean(ls(log_odds))} (beta is ORPO's lambda).
     *
     * <p>Difference from TRL: TRL's ORPO NLL runs over prompt and response tokens; ours covers the response tokens
     * only (the model computes no logits for the prompt), the same NLL as {@link #SFT} and {@link #CPO}.
     */
    ORPO("orpo", false, "ORPO, arXiv 2403.07691") {
        @Override
        SDVariable perPair(LogRatios r, LossConfig c) {
            var m = r.sd().math();
            SDVariable logOdds = r.chosenAvg().sub(r.rejectedAvg())
                    .sub(m.log1p(m.exp(r.chosenAvg()).neg()).sub(m.log1p(m.exp(r.rejectedAvg()).neg())));
            return logSigmoid(logOdds).mul(-c.beta());
        }

        @Override
        SDVariable term(LogRatios r, LossConfig c) {
            return r.chosenNll().add(r.sd().mean(perPair(r, c)));
        }
    };

    private final String trlName;
    private final boolean needsReference;
    private final String paper;

    LossType(String trlName, boolean needsReference, String paper) {
        this.trlName = trlName;
        this.needsReference = needsReference;
        this.paper = paper;
    }

    /** The name TRL uses for this loss ({@code loss_type}), lower case, e.g. {@code "sigmoid"}. */
    public String trlName() {
        return trlName;
    }

    /** Whether the loss needs reference-model log-probs (false for {@code sft}, {@code simpo}, {@code cpo}, {@code orpo}). */
    public boolean needsReference() {
        return needsReference;
    }

    /** The paper the loss comes from, short form with its arXiv id. */
    public String paper() {
        return paper;
    }

    /** Whether this loss uses the label smoothing parameter (cDPO / robust DPO / EXO / SimPO / CPO). */
    public boolean usesLabelSmoothing() {
        return this == SIGMOID || this == ROBUST || this == EXO_PAIR || this == SIMPO || this == CPO;
    }

    /**
     * Whether TRL reports length-averaged policy log-probs for this loss ({@code logps/*} and, reference-free,
     * {@code rewards/*}): true for SimPO and ORPO, whose trainers compute log-probs with {@code average_log_prob=True}.
     */
    public boolean averagesLogps() {
        return this == SIMPO || this == ORPO;
    }

    /**
     * The loss type with this TRL name (case-insensitive, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException for an unknown name; the message lists every valid name
     */
    public static LossType fromName(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (LossType t : values()) {
                if (t.trlName.equals(n)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException("Unknown loss type '" + name + "'. Valid loss types: " + validNames());
    }

    /** All valid TRL names, comma separated, in declaration order. */
    public static String validNames() {
        return Arrays.stream(values()).map(LossType::trlName).collect(Collectors.joining(", "));
    }

    /**
     * The per-pair loss {@code [P]} of this type, or null for a batch-level term (SFT).
     */
    abstract SDVariable perPair(LogRatios r, LossConfig c);

    /** This type's scalar contribution before weighting: by default the mean over pairs of {@link #perPair}. */
    SDVariable term(LogRatios r, LossConfig c) {
        return r.sd().mean(perPair(r, c));
    }

    /** {@code -(1-e) ls(x) - e ls(-x)}; exactly {@code -ls(x)} when {@code e == 0}. */
    private static SDVariable smoothedSigmoid(SDVariable x, double e) {
        SDVariable main = logSigmoid(x).neg();
        if (e == 0.0) {
            return main;
        }
        return main.mul(1.0 - e).sub(logSigmoid(x.neg()).mul(e));
    }
}
