package org.prefixshare.loss;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The loss configuration, with TRL's parameter names and meanings ({@code DPOConfig}, {@code CPOConfig},
 * {@code ORPOConfig}); immutable, validated on construction with messages saying what is wrong and how to fix it.
 *
 * <p>The loss is {@code sum_k weight_k * term_k}, each term the mean over the batch's pairs of one {@link LossType}
 * (TRL's {@code loss_type=[...]} with {@code loss_weights=[...]}).
 *
 * @param beta           (default 0.1) deviation from the reference model; higher means less deviation. For IPO it is
 *                       the regulariser tau; for SimPO/CPO the reward scale; for ORPO the weight lambda of the
 *                       odds-ratio term. Must be &gt; 0.
 * @param labelSmoothing (default 0) probability that a preference label is flipped, in [0, 0.5): cDPO for
 *                       {@code sigmoid}, the noise rate of {@code robust}, epsilon of {@code exo_pair}, and the
 *                       smoothing of {@code simpo}/{@code cpo}. Rejected when no term uses it.
 * @param simpoGamma     (default 0.5) SimPO's target reward margin gamma (TRL {@code simpo_gamma}).
 * @param cpoAlpha       (default 1.0) weight of the NLL term of CPO (TRL {@code cpo_alpha}); &gt;= 0.
 * @param discopopTau    (default 0.05) DiscoPOP's temperature tau (TRL {@code discopop_tau}); &gt; 0.
 * @param terms          the loss terms with their weights; at least one, no type twice, weights finite and &gt; 0.
 */
public record LossConfig(double beta, double labelSmoothing, double simpoGamma, double cpoAlpha, double discopopTau,
                         List<Term> terms) {

    /** TRL's default beta. */
    public static final double DEFAULT_BETA = 0.1;
    /** TRL's default {@code simpo_gamma}. */
    public static final double DEFAULT_SIMPO_GAMMA = 0.5;
    /** TRL's default {@code cpo_alpha}. */
    public static final double DEFAULT_CPO_ALPHA = 1.0;
    /** TRL's (and the DiscoPOP paper's) default {@code discopop_tau}. */
    public static final double DEFAULT_DISCOPOP_TAU = 0.05;
    /** The epsilon {@code exo_pair} uses when label smoothing is 0 (TRL; the EXO paper recommends 1e-3). */
    public static final double EXO_DEFAULT_EPSILON = 1e-3;

    /**
     * One weighted loss term.
     *
     * @param type   the loss type
     * @param weight its weight in the sum, finite and &gt; 0
     */
    public record Term(LossType type, double weight) {
        /** Checks the type is present and the weight is finite and positive. */
        public Term {
            Objects.requireNonNull(type, "loss term type");
            if (!Double.isFinite(weight) || weight <= 0) {
                throw new IllegalArgumentException("loss weight of '" + type.trlName() + "' must be finite and > 0, got "
                        + weight + " (drop the term instead of giving it weight 0)");
            }
        }

        /** A term of weight 1. */
        public static Term of(LossType type) {
            return new Term(type, 1.0);
        }

        /**
         * Parses a comma-separated list of {@code name[:weight]}, e.g. {@code "sigmoid,sft:0.5"} (weight 1 when
         * omitted).
         *
         * @throws IllegalArgumentException for an unknown name (listing the valid ones) or a malformed weight
         */
        public static List<Term> parseList(String spec) {
            if (spec == null || spec.isBlank()) {
                throw new IllegalArgumentException("empty loss list; give e.g. 'sigmoid' or 'sigmoid,sft:0.5'. "
                        + "Valid loss types: " + LossType.validNames());
            }
            List<Term> out = new ArrayList<>();
            for (String part : spec.split(",")) {
                String p = part.trim();
                int colon = p.indexOf(':');
                LossType type = LossType.fromName(colon < 0 ? p : p.substring(0, colon));
                double w = 1.0;
                if (colon >= 0) {
                    String ws = p.substring(colon + 1).trim();
                    try {
                        w = Double.parseDouble(ws);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("loss '" + type.trlName() + "': weight '" + ws
                                + "' is not a number (expected name:weight, e.g. sft:0.5)");
                    }
                }
                out.add(new Term(type, w));
            }
            return out;
        }

        @Override
        public String toString() {
            return type.trlName() + ":" + weight;
        }
    }

    /** Validates every parameter and the cross-parameter rules; copies {@code terms}. */
    public LossConfig {
        if (!Double.isFinite(beta) || beta <= 0) {
            throw new IllegalArgumentException("beta must be finite and > 0, got " + beta
                    + " (TRL's default is 0.1; typical range 0.01-0.5)");
        }
        if (!Double.isFinite(labelSmoothing) || labelSmoothing < 0 || labelSmoothing >= 0.5) {
            throw new IllegalArgumentException("label_smoothing must be in [0, 0.5), got " + labelSmoothing
                    + " (it is the probability that a preference label is flipped)");
        }
        if (!Double.isFinite(simpoGamma)) {
            throw new IllegalArgumentException("simpo_gamma must be finite, got " + simpoGamma);
        }
        if (!Double.isFinite(cpoAlpha) || cpoAlpha < 0) {
            throw new IllegalArgumentException("cpo_alpha must be finite and >= 0, got " + cpoAlpha);
        }
        if (!Double.isFinite(discopopTau) || discopopTau <= 0) {
            throw new IllegalArgumentException("discopop_tau must be finite and > 0, got " + discopopTau
                    + " (the DiscoPOP paper recommends 0.05)");
        }
        if (terms == null || terms.isEmpty()) {
            throw new IllegalArgumentException("at least one loss term is required. Valid loss types: "
                    + LossType.validNames());
        }
        Set<LossType> seen = EnumSet.noneOf(LossType.class);
        for (Term t : terms) {
            Objects.requireNonNull(t, "loss term");
            if (!seen.add(t.type())) {
                throw new IllegalArgumentException("loss type '" + t.type().trlName()
                        + "' is listed twice; give it once with the summed weight");
            }
        }
        if (labelSmoothing > 0 && seen.stream().noneMatch(LossType::usesLabelSmoothing)) {
            throw new IllegalArgumentException("label_smoothing=" + labelSmoothing + " has no effect on "
                    + names(seen) + "; it is used only by " + names(EnumSet.copyOf(
                    java.util.Arrays.stream(LossType.values()).filter(LossType::usesLabelSmoothing).toList()))
                    + ". Set it to 0 or add one of those losses");
        }
        terms = List.copyOf(terms);
    }

    /** TRL's defaults with the single loss {@code type}. */
    public static LossConfig of(LossType type) {
        return of(List.of(Term.of(type)));
    }

    /** TRL's defaults with the given terms. */
    public static LossConfig of(List<Term> terms) {
        return new LossConfig(DEFAULT_BETA, 0.0, DEFAULT_SIMPO_GAMMA, DEFAULT_CPO_ALPHA, DEFAULT_DISCOPOP_TAU, terms);
    }

    /** The default: DPO's sigmoid loss, beta 0.1. */
    public static LossConfig defaults() {
        return of(LossType.SIGMOID);
    }

    /**
     * RPO (Pang et al. 2024, arXiv 2404.19733): DPO's sigmoid loss plus {@code alpha} times the NLL of the chosen
     * responses, i.e. terms {@code sigmoid:1, sft:alpha} (TRL's {@code rpo_alpha}; the paper recommends 1.0).
     */
    public static LossConfig rpo(double beta, double alpha) {
        return of(List.of(Term.of(LossType.SIGMOID), new Term(LossType.SFT, alpha))).withBeta(beta);
    }

    /** A copy with another beta. */
    public LossConfig withBeta(double b) {
        return new LossConfig(b, labelSmoothing, simpoGamma, cpoAlpha, discopopTau, terms);
    }

    /** A copy with another label smoothing. */
    public LossConfig withLabelSmoothing(double e) {
        return new LossConfig(beta, e, simpoGamma, cpoAlpha, discopopTau, terms);
    }

    /** A copy with another SimPO gamma. */
    public LossConfig withSimpoGamma(double g) {
        return new LossConfig(beta, labelSmoothing, g, cpoAlpha, discopopTau, terms);
    }

    /** A copy with another CPO alpha. */
    public LossConfig withCpoAlpha(double a) {
        return new LossConfig(beta, labelSmoothing, simpoGamma, a, discopopTau, terms);
    }

    /** A copy with another DiscoPOP tau. */
    public LossConfig withDiscopopTau(double t) {
        return new LossConfig(beta, labelSmoothing, simpoGamma, cpoAlpha, t, terms);
    }

    /** A copy with other terms. */
    public LossConfig withTerms(List<Term> t) {
        return new LossConfig(beta, labelSmoothing, simpoGamma, cpoAlpha, discopopTau, t);
    }

    /** Whether any term needs reference log-probs. */
    public boolean needsReference() {
        return terms.stream().anyMatch(t -> t.type().needsReference());
    }

    /** Whether the terms include {@code type}. */
    public boolean contains(LossType type) {
        return terms.stream().anyMatch(t -> t.type() == type);
    }

    /** The first term's type: it decides the metric conventions (see {@link DpoLoss}). */
    public LossType primary() {
        return terms.get(0).type();
    }

    /**
     * The epsilon of {@code exo_pair}: the label smoothing, or {@value #EXO_DEFAULT_EPSILON} when it is 0 (TRL
     * substitutes 1e-3 since log(0) is undefined; the EXO paper recommends 1e-3).
     */
    public double exoEpsilon() {
        return labelSmoothing == 0.0 ? EXO_DEFAULT_EPSILON : labelSmoothing;
    }

    private static String names(Set<LossType> types) {
        return types.stream().map(LossType::trlName).collect(Collectors.joining(", ", "[", "]"));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "LossConfig[terms=%s, beta=%s, label_smoothing=%s, simpo_gamma=%s, cpo_alpha=%s, discopop_tau=%s]",
                terms, beta, labelSmoothing, simpoGamma, cpoAlpha, discopopTau);
    }
}
