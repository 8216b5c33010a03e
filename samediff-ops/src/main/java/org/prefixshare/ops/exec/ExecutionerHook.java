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
    private static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";
    private static final String CUDA_EXECUTIONER = "org.prefixshare.ops.exec.cuda.PrefixShareCudaOpExecutioner";

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
            // With the CUDA backend and the samediff-ops-cuda module on the class path, ND4J may come up on either
            // backend: let it choose, then install the executioner of the backend it chose (by reflection).
            boolean cudaPossible = classPresent(CUDA_BACKEND) && classPresent(CUDA_EXECUTIONER);
            if (!cudaPossible && System.getProperty(PROPERTY) == null) {
                System.setProperty(PROPERTY, PrefixShareOpExecutioner.class.getName());
            }
            OpExecutioner current = Nd4j.getExecutioner();
            if (!isOurs(current)) {
                replace(current);
            }
            installed = true;
        }
    }

    /** Whether ND4J's current executioner runs our ops (false means running one would fail). */
    public static boolean isActive() {
        return isOurs(Nd4j.getExecutioner());
    }

    /** Ours: the CPU executioner, or the CUDA one (checked by name: its class exists only with the CUDA module). */
    private static boolean isOurs(OpExecutioner e) {
        if (e.getClass().getName().equals(CUDA_EXECUTIONER)) {
            return true;
        }
        // never touch PrefixShareOpExecutioner (an nd4j-native class) on the CUDA backend
        return !onCudaBackend() && e instanceof PrefixShareOpExecutioner;
    }

    private static boolean onCudaBackend() {
        return Nd4j.getBackend().getClass().getName().equals(CUDA_BACKEND);
    }

    private static boolean classPresent(String name) {
        try {
            Class.forName(name, false, ExecutionerHook.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** A new executioner of our own for ND4J's active backend. */
    private static OpExecutioner newExecutioner() throws ReflectiveOperationException {
        if (onCudaBackend()) {
            if (!classPresent(CUDA_EXECUTIONER)) {
                throw new IllegalStateException("ND4J runs on the CUDA backend but " + CUDA_EXECUTIONER
                        + " is not on the class path: add the org.prefixshare:samediff-ops-cuda module");
            }
            return (OpExecutioner) Class.forName(CUDA_EXECUTIONER).getDeclaredConstructor().newInstance();
        }
        return new PrefixShareOpExecutioner();
    }

    private static void replace(OpExecutioner current) {
        try {
            OpExecutioner ours = newExecutioner();
            ours.setProfilingMode(current.getProfilingMode());
            Field field = Nd4j.class.getDeclaredField("OP_EXECUTIONER_INSTANCE");
            field.setAccessible(true);
            field.set(null, ours);
            log.debug("replaced ND4J executioner {} by {}", current.getClass().getName(), ours.getClass().getName());
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("Could not install the prefixshare op executioner into ND4J ("
                    + current.getClass().getName() + " is active). Start the JVM with -Dopexec="
                    + (onCudaBackend() ? CUDA_EXECUTIONER : PrefixShareOpExecutioner.class.getName())
                    + " or call ExecutionerHook.install() before using ND4J.", e);
        }
    }
}
