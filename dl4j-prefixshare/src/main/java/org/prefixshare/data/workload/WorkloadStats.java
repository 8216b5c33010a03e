package org.prefixshare.data.workload;

import org.prefixshare.data.TokenizedExample;

import java.util.Arrays;
import java.util.List;

/**
 * Length statistics of a set of examples in the terms of {@link WorkloadProfile}: median overall length
 * ({@code P + sum of response lengths}), median prefix/completion ratio ({@code P / mean response length}), and the
 * total tokens in the paired and the prefix-shared layouts (no padding).
 *
 * @param examples      number of examples
 * @param medianOverall median overall length
 * @param medianRatio   median prefix/completion ratio
 * @param medianPrompt  median P
 * @param medianResponse median response length (over all responses)
 * @param pairedTokens  sum of {@link TokenizedExample#pairedTokens()}
 * @param sharedTokens  sum of {@link TokenizedExample#sharedLength()}
 */
public record WorkloadStats(int examples, double medianOverall, double medianRatio, double medianPrompt,
                            double medianResponse, long pairedTokens, long sharedTokens) {

    /** Statistics of the given examples (at least one). */
    public static WorkloadStats of(List<TokenizedExample> examples) {
        int n = examples.size();
        if (n == 0) {
            throw new IllegalArgumentException("no examples");
        }
        double[] overall = new double[n];
        double[] ratio = new double[n];
        double[] prompt = new double[n];
        int responses = 0;
        for (TokenizedExample e : examples) {
            responses += e.responseCount();
        }
        double[] response = new double[responses];
        long paired = 0;
        long shared = 0;
        int ri = 0;
        for (int i = 0; i < n; i++) {
            TokenizedExample e = examples.get(i);
            long sum = 0;
            for (int r = 0; r < e.responseCount(); r++) {
                sum += e.responseLength(r);
                response[ri++] = e.responseLength(r);
            }
            overall[i] = e.promptLength() + sum;
            ratio[i] = sum == 0 ? Double.POSITIVE_INFINITY
                    : e.promptLength() / ((double) sum / e.responseCount());
            prompt[i] = e.promptLength();
            paired += e.pairedTokens();
            shared += e.sharedLength();
        }
        return new WorkloadStats(n, median(overall), median(ratio), median(prompt), median(response), paired,
                shared);
    }

    /** Paired over prefix-shared tokens: the ideal speedup of sharing when nothing is padded. */
    public double tokenRatio() {
        return (double) pairedTokens / sharedTokens;
    }

    /** Median of the values (the array is sorted in place). */
    static double median(double[] v) {
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
