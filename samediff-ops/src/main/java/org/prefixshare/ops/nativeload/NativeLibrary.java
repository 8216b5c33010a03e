package org.prefixshare.ops.nativeload;

import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Finds and loads {@code libprefixshare.so}: first the copy packaged in this jar (extracted to a temporary file),
 * then {@code java.library.path}. Loaded at most once per JVM, after ND4J itself so that our OpenMP kernels bind to
 * ND4J's bundled libgomp (one OpenMP runtime per process).
 *
 * <p>Set {@code -Dprefixshare.native=false} to refuse loading (the dense reference is then used everywhere).
 */
public final class NativeLibrary {

    private static final Logger log = LoggerFactory.getLogger(NativeLibrary.class);

    static final String RESOURCE = "/org/prefixshare/native/linux-x86_64/libprefixshare.so";
    static final String DISABLE_PROPERTY = "prefixshare.native";

    private static volatile State state;

    private NativeLibrary() {
    }

    private record State(boolean available, int capabilities, String version, String failure) {
    }

    /** Whether the native kernels are loaded and usable in this JVM. */
    public static boolean isAvailable() {
        return state().available;
    }

    /** Capability flags ({@code NativeKernels.CAP_*}); 0 when not available. */
    public static int capabilities() {
        return state().capabilities;
    }

    /** The native library's version string, or null when not available. */
    public static String version() {
        return state().version;
    }

    /** Why loading failed, or null when it succeeded. */
    public static String failure() {
        return state().failure;
    }

    /** Throws with the load failure when the library is not available. */
    public static void require() {
        State s = state();
        if (!s.available) {
            throw new IllegalStateException("prefixshare native library is not available: " + s.failure);
        }
    }

    private static State state() {
        State s = state;
        if (s == null) {
            synchronized (NativeLibrary.class) {
                s = state;
                if (s == null) {
                    s = load();
                    state = s;
                }
            }
        }
        return s;
    }

    private static State load() {
        if ("false".equalsIgnoreCase(System.getProperty(DISABLE_PROPERTY, "true"))) {
            return failed("disabled by -D" + DISABLE_PROPERTY + "=false");
        }
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return failed("no native build for " + os + "/" + arch + " (only linux-x86_64 is packaged)");
        }
        if (!CpuFeatures.hasAvx2AndFma()) {
            return failed("this CPU lacks AVX2/FMA, which the packaged kernels are compiled for");
        }
        Nd4j.getBackend(); // ND4J (and its libgomp) first: see the class comment
        String loadedFrom;
        try {
            loadedFrom = loadFromJar();
        } catch (IOException | UnsatisfiedLinkError e) {
            try {
                System.loadLibrary("prefixshare");
                loadedFrom = "java.library.path";
            } catch (UnsatisfiedLinkError e2) {
                return failed("could not load " + RESOURCE + " (" + e.getMessage() + ") nor libprefixshare from "
                        + "java.library.path (" + e2.getMessage() + ")");
            }
        }
        int caps = NativeKernels.capabilities();
        String version = NativeKernels.version();
        log.info("prefixshare native kernels {} loaded from {} (capabilities 0x{})", version, loadedFrom,
                Integer.toHexString(caps));
        return new State(true, caps, version, null);
    }

    private static String loadFromJar() throws IOException {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("resource " + RESOURCE + " not on the class path");
            }
            Path tmp = Files.createTempFile("libprefixshare", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            System.load(tmp.toAbsolutePath().toString());
            return "jar resource " + RESOURCE;
        }
    }

    private static State failed(String why) {
        log.warn("*** prefixshare native kernels NOT loaded: {}. Falling back to the dense SameDiff reference "
                + "attention, which is exact but O(T^2) in time and memory. ***", why);
        return new State(false, 0, null, why);
    }
}
