package org.prefixshare.bench.training;

/**
 * The measurements of one mode on one profile (JSON field names as printed).
 *
 * @param mode              "a" .. "e"
 * @param samples_per_s     examples per step / the median timed step (forward + backward + Adam update); the
 *                          median, as the issue asks, because on this shared 2-vCPU machine single steps take up to 2x
 *                          longer now and then (a neighbour's load, pages re-faulted after the mode waited its turn)
 * @param samples_per_s_total examples of all timed steps / their total time (outliers included), for comparison
 * @param step_ms           median step time
 * @param step_ms_min       fastest timed step
 * @param steps             timed steps
 * @param examples_per_step examples per optimiser step
 * @param offheap_peak_mb   peak resident memory outside the Java heap over the timed steps (ND4J's arrays live there)
 * @param rss_peak_mb       peak sampled process RSS over the timed steps
 * @param vm_hwm_mb         the process's lifetime peak RSS (meaningful when the mode ran in its own JVM)
 * @param isolated          true when the mode ran in its own JVM
 * @param carried_mb        resident memory that earlier workloads of the same worker JVM left behind, for
 *                          information: not subtracted from the figures above, because the next workload uses that
 *                          memory again (subtracting it once halved a later workload's peak: MetaMath-DPO (b) read
 *                          594 MB as a worker's third profile and 1179 MB as its first, with its absolute peak
 *                          ~1.2 GB in both places, before the row gather's leak was fixed)
 * @param first_loss        loss of the first step (a sanity figure: finite, near ln 2)
 * @param last_loss         loss of the last step
 * @param fixed_step_ms     the cost of a step that no layout saves: the median step on one example of one prompt token
 *                          and one token per response, after the warm-up ({@link ModeRunner#FIXED_COST_STEPS} steps;
 *                          SameDiff's scheduling of the step's ops, Adam, work the size of the weights); NaN where not
 *                          measured (mode (a))
 * @param trainable_params  parameters the optimiser updated: the whole model in full fine-tuning, the adapters' with
 *                          LoRA (counted on the model that trained)
 */
public record ModeResult(String mode, double samples_per_s, double samples_per_s_total, double step_ms,
                         double step_ms_min, int steps, int examples_per_step, double offheap_peak_mb,
                         double rss_peak_mb, double vm_hwm_mb, boolean isolated, double carried_mb,
                         double first_loss, double last_loss, double fixed_step_ms, long trainable_params) {

    /**
     * The peak memory of the JSON: the process's lifetime peak RSS when the mode had a JVM of its own, else the
     * sampled RSS peak over its timed steps (which includes what earlier modes left resident).
     */
    public double peakMemMb() {
        return isolated ? vm_hwm_mb : rss_peak_mb;
    }

    /**
     * The same figures marked as measured in a JVM of the mode's own that held {@code carriedMb} of resident memory
     * beyond a fresh JVM's when this workload began (recorded, not subtracted: see {@link #carried_mb}).
     */
    public ModeResult isolatedRun(double carriedMb) {
        return new ModeResult(mode, samples_per_s, samples_per_s_total, step_ms, step_ms_min, steps,
                examples_per_step, offheap_peak_mb, rss_peak_mb, vm_hwm_mb, true, carriedMb, first_loss, last_loss,
                fixed_step_ms, trainable_params);
    }
}
