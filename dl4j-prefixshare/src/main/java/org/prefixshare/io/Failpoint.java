package org.prefixshare.io;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Named points where a crash test can have this process killed with SIGKILL, as a user's {@code kill -9} or the
 * kernel's out-of-memory killer would (the pattern of etcd's and TiKV's failpoints). Off unless the system property
 * {@value #PROPERTY} names a point: {@code name} kills at its first hit, {@code name@k} at its k-th. A disabled hit
 * costs one field read.
 */
public final class Failpoint {

    /** The system property naming the point to kill at. */
    public static final String PROPERTY = "prefixshare.failpoint";

    private static final String ARMED = System.getProperty(PROPERTY);
    private static final AtomicInteger HITS = new AtomicInteger();

    private Failpoint() {
    }

    /** Kills this process with SIGKILL if {@code name} is the armed point (at its armed hit). */
    public static void hit(String name) {
        if (ARMED == null) {
            return;
        }
        int at = ARMED.indexOf('@');
        String armedName = at < 0 ? ARMED : ARMED.substring(0, at);
        int armedHit = at < 0 ? 1 : Integer.parseInt(ARMED.substring(at + 1));
        if (armedName.equals(name) && HITS.incrementAndGet() == armedHit) {
            killSelf();
        }
    }

    private static void killSelf() {
        try {
            System.out.flush();
            System.err.println("failpoint " + ARMED + ": kill -9 " + ProcessHandle.current().pid());
            new ProcessBuilder("kill", "-9", Long.toString(ProcessHandle.current().pid())).inheritIO().start()
                    .waitFor();
            Thread.sleep(60_000); // the signal is on its way
        } catch (Exception e) {
            // no kill(1): end as abruptly as the JVM allows
        }
        Runtime.getRuntime().halt(137);
    }
}
