package org.prefixshare.ops.exec;

import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;

/**
 * Installs {@link PrefixShareOpExecutioner} as ND4J's executioner, idempotently. Before ND4J initialises, the
 * {@code opexec} system property selects it (ND4J merges system properties into its backend configuration); if ND4J
 * is already up with another executioner, ours replaces it by reflection, carrying over the profiling mode.
 * Every entry point of this library calls {@link #install()} first.
 */
public final class ExecutionerHook {

    private static final Logger log = LoggerFactory.getLogger(ExecutionerHook.class);
    private static final String PROPERTY = "opexec";

    private static volatile boolean installed;

    private ExecutionerHook() {
    }

    /** Makes sure our executioner runs every op from now on. Cheap after the first call. */
    public static void install() {
        if (installed) {
            return;
        }
        synchronized (ExecutionerHook.class) {
            if (installed) {
                return;
            }
            if (System.getProperty(PROPERTY) == null) {
                System.setProperty(PROPERTY, PrefixShareOpExecutioner.class.getName());
            }
            OpExecutioner current = Nd4j.getExecutioner();
            if (!(current instanceof PrefixShareOpExecutioner)) {
                replace(current);
            }
            installed = true;
        }
    }

    /** Whether ND4J's current executioner runs our ops (false means running one would fail). */
    public static boolean isActive() {
        return Nd4j.getExecutioner() instanceof PrefixShareOpExecutioner;
    }

    private static void replace(OpExecutioner current) {
        try {
            PrefixShareOpExecutioner ours = new PrefixShareOpExecutioner();
            ours.setProfilingMode(current.getProfilingMode());
            Field field = Nd4j.class.getDeclaredField("OP_EXECUTIONER_INSTANCE");
            field.setAccessible(true);
            field.set(null, ours);
            log.debug("replaced ND4J executioner {} by {}", current.getClass().getName(), ours.getClass().getName());
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("Could not install the prefixshare op executioner into ND4J ("
                    + current.getClass().getName() + " is active). Start the JVM with -Dopexec="
                    + PrefixShareOpExecutioner.class.getName() + " or call ExecutionerHook.install() before using "
                    + "ND4J.", e);
        }
    }
}
