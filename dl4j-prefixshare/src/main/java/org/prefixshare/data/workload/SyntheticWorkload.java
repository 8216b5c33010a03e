package org.prefixshare.data.workload;

import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic tokenised preference examples shaped like a {@link WorkloadProfile}, for throughput benchmarks: token ids
 * are uniform random over the vocabulary (what the model computes does not depend on them), only the lengths matter.
 *
 * <p><b>Length model.</b> Per example the prompt length P and the two response lengths C_chosen and C_rejected are
 * drawn <i>independently</i> from log-normal distributions, {@code round(exp(mu + sigma Z))}, at least 1 token each,
 * with {@code sigma} = {@link #DEFAULT_SIGMA} (0.5: the middle half of each length lies within about x0.71 to x1.40
 * of its median, and 95% within x0.38 to x2.7) for all three. Examples whose prefix-shared document
 * ({@code P + C_chosen + C_rejected + 1} tokens) would exceed {@code maxDocument} are drawn again (as a data set
 * truncated at a maximum length would drop them). Because the overall length and the ratio are sums and quotients of
 * independent draws, the medians {@code mu_P}, {@code mu_C} are calibrated (a few fixed-point rounds over a large
 * calibration sample with its own seed) so that the <i>sample</i> median overall length and median ratio hit the
 * profile's targets.
 */
public final class SyntheticWorkload {

    /** Log-normal sigma of every length (prompt and each response). */
    public static final double DEFAULT_SIGMA = 0.5;

    private static final int CALIBRATION_SAMPLES = 20001;
    private static final int CALIBRATION_ROUNDS = 8;

    private final WorkloadProfile profile;
    private final double sigma;
    private final int maxDocument;
    private final double muPrompt;
    private final double muCompletion;

    /**
     * @param profile     the target medians (already scaled down if lengths are to be scaled)
     * @param sigma       log-normal sigma of each length (> 0)
     * @param maxDocument largest prefix-shared document in tokens (examples above it are redrawn); must leave room
     *                    for the medians: at least 2 x the median overall length
     */
    public SyntheticWorkload(WorkloadProfile profile, double sigma, int maxDocument) {
        if (!(sigma > 0) || sigma > 2) {
            throw new IllegalArgumentException("sigma must be in (0, 2], got " + sigma);
        }
        if (maxDocument < 2 * profile.medianOverall()) {
            throw new IllegalArgumentException("maxDocument " + maxDocument + " leaves no room around the median "
                    + "overall length " + profile.medianOverall() + " of " + profile.name()
                    + "; give at least twice the median");
        }
        this.profile = profile;
        this.sigma = sigma;
        this.maxDocument = maxDocument;
        double[] mu = calibrate();
        this.muPrompt = mu[0];
        this.muCompletion = mu[1];
    }

    /** With {@link #DEFAULT_SIGMA} and documents of at most 4 x the median overall length. */
    public SyntheticWorkload(WorkloadProfile profile) {
        this(profile, DEFAULT_SIGMA, (int) Math.ceil(4 * profile.medianOverall()));
    }

    /** The profile. */
    public WorkloadProfile profile() {
        return profile;
    }

    /** The log-normal sigma. */
    public double sigma() {
        return sigma;
    }

    /** The largest document length. */
    public int maxDocument() {
        return maxDocument;
    }

    /** Calibrated median prompt length exp(mu_P) before rounding. */
    public double promptMedian() {
        return Math.exp(muPrompt);
    }

    /** Calibrated median response length exp(mu_C) before rounding. */
    public double completionMedian() {
        return Math.exp(muCompletion);
    }

    /**
     * {@code count} examples with ids {@code firstId, firstId + 1, ...}, random token ids in {@code [0, vocabSize)};
     * the same arguments give the same examples.
     */
    public List<TokenizedExample> generate(int count, int vocabSize, long seed, long firstId) {
        if (count < 0 || vocabSize < 2) {
            throw new IllegalArgumentException("need count >= 0 and vocabSize >= 2, got " + count + ", " + vocabSize);
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TokenizedExample> out = new ArrayList<>(count);
        String source = "synthetic:" + profile.name();
        for (int i = 0; i < count; i++) {
            int[] len = drawLengths(rnd, muPrompt, muCompletion);
            int[] prompt = ids(rnd, len[0], vocabSize);
            List<int[]> responses = List.of(ids(rnd, len[1], vocabSize), ids(rnd, len[2], vocabSize));
            out.add(new TokenizedExample(firstId + i, source + "#" + i, prompt, responses, 0));
        }
        return out;
    }

    private static int[] ids(SplittableRandom rnd, int n, int vocab) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextInt(vocab);
        }
        return v;
    }

    /** {P, C_chosen, C_rejected}, redrawn until the shared document fits. */
    private int[] drawLengths(SplittableRandom rnd, double muP, double muC) {
        for (int tries = 0; ; tries++) {
            int p = draw(rnd, muP);
            int c1 = draw(rnd, muC);
            int c2 = draw(rnd, muC);
            if (p + c1 + c2 + 1 <= maxDocument) {
                return new int[]{p, c1, c2};
            }
            if (tries > 10_000) {
                throw new IllegalStateException("cannot draw documents of at most " + maxDocument + " tokens for "
                        + profile);
            }
        }
    }

    private int draw(SplittableRandom rnd, double mu) {
        return (int) Math.max(1, Math.round(Math.exp(mu + sigma * rnd.nextGaussian())));
    }

    /**
     * Fixed-point rounds: measure the sample medians of a calibration draw with the current (mu_P, mu_C) and move
     * both in log space: the overall error scales both, the ratio error shifts P against C keeping P + 2C.
     */
    private double[] calibrate() {
        double r = profile.medianRatio();
        double muP = Math.log(Math.max(0.5, profile.nominalPrompt()));
        double muC = Math.log(Math.max(0.5, profile.nominalCompletion()));
        double[] overall = new double[CALIBRATION_SAMPLES];
        double[] ratio = new double[CALIBRATION_SAMPLES];
        for (int round = 0; round < CALIBRATION_ROUNDS; round++) {
            SplittableRandom rnd = new SplittableRandom(0x5EED_CA1BL);
            for (int i = 0; i < CALIBRATION_SAMPLES; i++) {
                int[] l = drawLengths(rnd, muP, muC);
                overall[i] = l[0] + l[1] + l[2];
                ratio[i] = l[0] / ((l[1] + l[2]) / 2.0);
            }
            double a = Math.log(r / WorkloadStats.median(ratio));
            double b = Math.log(profile.medianOverall() / WorkloadStats.median(overall));
            if (Math.abs(a) < 1e-3 && Math.abs(b) < 1e-3) {
                break;
            }
            muP += b + a * 2 / (r + 2);
            muC += b - a * r / (r + 2);
        }
        return new double[]{muP, muC};
    }
}
