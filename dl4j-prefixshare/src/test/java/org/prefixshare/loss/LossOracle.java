package org.prefixshare.loss;

/**
 * Plain-Java double oracle of the loss family, written directly from TRL's formulas (dpo_trainer.py, cpo_trainer.py,
 * orpo_trainer.py) without sharing code with the SameDiff implementation.
 */
final class LossOracle {

    /** One batch of pairs in plain arrays; {@code rc}/{@code rr} null when reference-free. */
    record Batch(double[] pc, double[] pr, double[] rc, double[] rr, double[] nc, double[] nr, double bcoDelta) {
        int size() {
            return pc.length;
        }

        Batch withPc(double[] x) {
            return new Batch(x, pr, rc, rr, nc, nr, bcoDelta);
        }

        Batch withPr(double[] x) {
            return new Batch(pc, x, rc, rr, nc, nr, bcoDelta);
        }
    }

    private LossOracle() {
    }

    static double logSigmoid(double x) {
        return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
    }

    static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    /** The full weighted loss of {@code cfg}. */
    static double loss(Batch b, LossConfig cfg) {
        double total = 0;
        for (LossConfig.Term t : cfg.terms()) {
            total += t.weight() * term(b, cfg, t.type());
        }
        return total;
    }

    /** One term's value (mean over pairs, or the batch-level value). */
    static double term(Batch b, LossConfig cfg, LossType type) {
        int p = b.size();
        double beta = cfg.beta();
        double ls = cfg.labelSmoothing();
        double nll = nll(b);
        if (type == LossType.SFT) {
            return nll;
        }
        double sum = 0;
        for (int i = 0; i < p; i++) {
            double nc = Math.max(1.0, b.nc()[i]);
            double nr = Math.max(1.0, b.nr()[i]);
            double sc = b.rc() == null ? Double.NaN : b.pc()[i] - b.rc()[i];
            double sr = b.rr() == null ? Double.NaN : b.pr()[i] - b.rr()[i];
            double d = sc - sr;
            double v;
            switch (type) {
                case SIGMOID -> v = -logSigmoid(beta * d) * (1 - ls) - logSigmoid(-beta * d) * ls;
                case ROBUST -> v = (-(1 - ls) * logSigmoid(beta * d) - (-ls * logSigmoid(-beta * d))) / (1 - 2 * ls);
                case HINGE -> v = Math.max(0.0, 1 - beta * d);
                case IPO -> {
                    double ipo = sc / nc - sr / nr;
                    v = Math.pow(ipo - 1 / (2 * beta), 2);
                }
                case EXO_PAIR -> {
                    double eps = ls == 0 ? 1e-3 : ls;
                    double qw = sigmoid(beta * d);
                    double ql = sigmoid(-beta * d);
                    v = qw * (logSigmoid(beta * d) - Math.log1p(-eps)) + ql * (logSigmoid(-beta * d) - Math.log(eps));
                }
                case NCA_PAIR -> {
                    double cr = beta * sc;
                    double rr = beta * sr;
                    v = -logSigmoid(cr) - 0.5 * logSigmoid(-cr) - 0.5 * logSigmoid(-rr);
                }
                case BCO_PAIR -> v = -logSigmoid(beta * sc - b.bcoDelta()) - logSigmoid(-(beta * sr - b.bcoDelta()));
                case SPPO_HARD -> v = Math.pow(sc - 0.5 / beta, 2) + Math.pow(sr + 0.5 / beta, 2);
                case APO_ZERO -> v = (1 - sigmoid(beta * sc)) + sigmoid(beta * sr);
                case APO_DOWN -> v = sigmoid(beta * sc) + (1 - sigmoid(beta * d));
                case DISCOPOP -> {
                    double logits = d * beta;
                    double mod = sigmoid(logits / cfg.discopopTau());
                    v = -logSigmoid(logits) * (1 - mod) + Math.exp(-logits) * mod;
                }
                case SIGMOID_NORM -> v = -logSigmoid(beta * (sc / nc - sr / nr));
                case SIMPO -> {
                    double logits = (b.pc()[i] / nc - b.pr()[i] / nr) - cfg.simpoGamma() / beta;
                    v = -logSigmoid(beta * logits) * (1 - ls) - logSigmoid(-beta * logits) * ls;
                }
                case CPO -> {
                    double logits = b.pc()[i] - b.pr()[i];
                    v = -logSigmoid(beta * logits) * (1 - ls) - logSigmoid(-beta * logits) * ls;
                }
                case ORPO -> {
                    double ac = b.pc()[i] / nc;
                    double ar = b.pr()[i] / nr;
                    double logOdds = (ac - ar) - (Math.log1p(-Math.exp(ac)) - Math.log1p(-Math.exp(ar)));
                    v = beta * logSigmoid(logOdds); // TRL: losses = beta * ratio; loss = nll - mean(losses)
                }
                default -> throw new AssertionError(type);
            }
            sum += v;
        }
        double mean = sum / p;
        return switch (type) {
            case CPO -> mean + cfg.cpoAlpha() * nll;
            case ORPO -> nll - mean;
            default -> mean;
        };
    }

    /** Token-mean NLL of the chosen responses. */
    static double nll(Batch b) {
        double s = 0;
        double n = 0;
        for (int i = 0; i < b.size(); i++) {
            s += b.pc()[i];
            n += b.nc()[i];
        }
        return -s / Math.max(1.0, n);
    }

    /** Central finite-difference gradient of the loss w.r.t. the policy chosen ({@code chosen=true}) or rejected logps. */
    static double[] fdGrad(Batch b, LossConfig cfg, boolean chosen, double h) {
        double[] x = chosen ? b.pc() : b.pr();
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double[] up = x.clone();
            double[] dn = x.clone();
            up[i] += h;
            dn[i] -= h;
            double fu = loss(chosen ? b.withPc(up) : b.withPr(up), cfg);
            double fd = loss(chosen ? b.withPc(dn) : b.withPr(dn), cfg);
            g[i] = (fu - fd) / (2 * h);
        }
        return g;
    }
}
