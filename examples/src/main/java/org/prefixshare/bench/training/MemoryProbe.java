package org.prefixshare.bench.training;

import org.bytedeco.javacpp.Pointer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Peak memory while a workload runs: a daemon thread samples, every millisecond or two, the process's resident set
 * ({@link Pointer#physicalBytes()}) and the part of it outside the Java heap ({@link #offHeapBytes()}: where ND4J's
 * arrays live); {@link #vmHwmBytes()} reads the kernel's peak RSS ({@code VmHWM} in {@code /proc/self/status})
 * since the process started or {@link #resetPeakRss()}. (ND4J 1.0.0-M2.1's CPU
 * backend allocates its arrays outside both JavaCPP's {@code Pointer.totalBytes()} count and its own allocation
 * tracker, both of which stay near zero while SameDiff trains, so resident memory is the figure that is there.)
 */
public final class MemoryProbe implements AutoCloseable {

    private final Thread thread;
    private volatile boolean running = true;
    private boolean active = true;  // guarded by this
    private volatile long peakOffHeap;
    private volatile long peakRss;

    /** Starts sampling. */
    public MemoryProbe() {
        sample();
        thread = new Thread(() -> {
            while (running) {
                try {
                    synchronized (this) {
                        while (!active && running) {
                            wait();
                        }
                    }
                    sample();
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "prefixshare-memory-probe");
        thread.setDaemon(true);
        thread.start();
    }

    /** Takes one sample now (also called by the thread). */
    public synchronized void sample() {
        long rss = Pointer.physicalBytes();
        peakRss = Math.max(peakRss, rss);
        peakOffHeap = Math.max(peakOffHeap, Math.max(0, rss - Runtime.getRuntime().totalMemory()));
    }

    /** Resident bytes outside the committed Java heap now (ND4J's arrays, native libraries, JIT, stacks). */
    public static long offHeapBytes() {
        return Math.max(0, Pointer.physicalBytes() - Runtime.getRuntime().totalMemory());
    }

    /**
     * Stops (false) or restarts (true) the sampling thread, e.g. while this process waits for its turn, so an idle
     * probe takes no CPU from another process being timed.
     */
    public synchronized void setActive(boolean on) {
        active = on;
        notifyAll();
    }

    /** Forgets the maxima (e.g. after warm-up) and samples anew. */
    public synchronized void reset() {
        peakOffHeap = 0;
        peakRss = 0;
        sample();
    }

    /** Peak of ND4J's off-heap bytes since start or reset. */
    public long peakOffHeapBytes() {
        return peakOffHeap;
    }

    /** Peak sampled RSS since start or reset. */
    public long peakRssBytes() {
        return peakRss;
    }

    /** The process's peak RSS (VmHWM) since it started or {@link #resetPeakRss()}, or -1 where /proc is not there. */
    public static long vmHwmBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] f = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(f[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * Restarts the lifetime peak RSS at the current RSS (writes 5 to {@code /proc/self/clear_refs}, Linux 4.0+), so
     * a process that runs one workload after another reports each one's peak. Returns false where that is not
     * possible; {@link #vmHwmBytes()} then keeps the lifetime peak.
     */
    public static boolean resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        running = false;
        setActive(true);
        thread.interrupt();
        sample();
    }
}
