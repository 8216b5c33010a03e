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
 * truncated at a maximum length would drop them).
 *
 * <p><b>Matching the medians.</b> The overall length and the ratio are sums and quotients of independent draws, so
 * the log-normal medians {@code mu_P}, {@code mu_C} that give the profile's medians are found by fixed-point rounds:
 * first over a large calibration sample with its own seed (the population's {@link #promptMedian()},
 * {@link #completionMedian()}), then, in {@link #generate}, over the generated sample's own deviates, so that a
 * sample of a few hundred examples has the profile's median overall length and median ratio too rather than
 * sampling noise of several per cent around them (a benchmark's ideal speedup depends on the ratio).
 */
public final class SyntheticWorkload {

    /** Log-normal sigma of every length (prompt and each response). */
    public static final double DEFAULT_SIGMA = 0.5;

    private static final int CALIBRATION_SAMPLES = 20001;
    private static final long CALIBRATION_SEED = 0x5EED_CA1BL;
    private static final int CALIBRATION_ROUNDS = 8;
    /** Rounds of matching a generated sample: more than the population's, as rounding makes its medians steps. */
    private static final int SAMPLE_ROUNDS = 16;
    /** Relative error of both medians at which a calibration stops early. */
    private static final double TOLERANCE = 1e-3;

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
        double[] mu = calibrate(CALIBRATION_SEED, CALIBRATION_SAMPLES, Math.log(Math.max(0.5,
                profile.nominalPrompt())), Math.log(Math.max(0.5, profile.nominalCompletion())), CALIBRATION_ROUNDS);
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

    /** Calibrated median prompt length exp(mu_P) of the population, before rounding. */
    public double promptMedian() {
        return Math.exp(muPrompt);
    }

    /** Calibrated median response length exp(mu_C) of the population, before rounding. */
    public double completionMedian() {
        return Math.exp(muCompletion);
    }

    /**
     * {@code count} examples with ids {@code firstId, firstId + 1, ...}, random token ids in {@code [0, vocabSize)};
     * the same arguments give the same examples. The lengths' deviates come from {@code seed}, and the log-normal
     * medians are matched to this sample (class comment), so its median overall length and median ratio are the
     * profile's up to the rounding of lengths to whole tokens.
     */
    public List<TokenizedExample> generate(int count, int vocabSize, long seed, long firstId) {
        if (count < 0 || vocabSize < 2) {
            throw new IllegalArgumentException("need count >= 0 and vocabSize >= 2, got " + count + ", " + vocabSize);
        }
        double[] mu = count == 0 ? new double[]{muPrompt, muCompletion}
                : calibrate(seed, count, muPrompt, muCompletion, SAMPLE_ROUNDS);
        SplittableRandom lengths = new SplittableRandom(seed);
        // token ids from a stream of their own, so that the lengths are those the matching measured
        SplittableRandom tokens = new SplittableRandom(seed ^ 0x70CE_15EEDL);
        List<TokenizedExample> out = new ArrayList<>(count);
        String source = "synthetic:" + profile.name();
        for (int i = 0; i < count; i++) {
            int[] len = drawLengths(lengths, mu[0], mu[1]);
            int[] prompt = ids(tokens, len[0], vocabSize);
            List<int[]> responses = List.of(ids(tokens, len[1], vocabSize), ids(tokens, len[2], vocabSize));
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
     * Fixed-point rounds from (muP, muC): measure the medians of the {@code count} examples drawn from {@code seed}
     * with the current (mu_P, mu_C) and move both in log space: the overall error scales both, the ratio error shifts
     * P against C keeping P + 2C. Returns the best pair seen (a small sample's medians move in steps, so the last
     * round need not be the closest).
     */
    private double[] calibrate(long seed, int count, double muP, double muC, int rounds) {
        double r = profile.medianRatio();
        double[] overall = new double[count];
        double[] ratio = new double[count];
        double[] best = {muP, muC};
        double bestError = Double.POSITIVE_INFINITY;
        for (int round = 0; round < rounds; round++) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < count; i++) {
                int[] l = drawLengths(rnd, muP, muC);
                overall[i] = l[0] + l[1] + l[2];
                ratio[i] = l[0] / ((l[1] + l[2]) / 2.0);
            }
            double a = Math.log(r / WorkloadStats.median(ratio));
            double b = Math.log(profile.medianOverall() / WorkloadStats.median(overall));
            double error = Math.max(Math.abs(a), Math.abs(b));
            if (error < bestError) {
                bestError = error;
                best = new double[]{muP, muC};
            }
            if (error < TOLERANCE) {
                break;
            }
            muP += b + a * 2 / (r + 2);
            muC += b - a * r / (r + 2);
        }
        return best;
    }
}
