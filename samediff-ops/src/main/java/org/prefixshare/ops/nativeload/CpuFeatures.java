package org.prefixshare.ops.nativeload;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Reads the CPU flags the native kernels need (from {@code /proc/cpuinfo}; Linux only). */
final class CpuFeatures {

    private CpuFeatures() {
    }

    static boolean hasAvx2AndFma() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
            for (String line : lines) {
                if (line.startsWith("flags")) {
                    String flags = " " + line.substring(line.indexOf(':') + 1) + " ";
                    return flags.contains(" avx2 ") && flags.contains(" fma ");
                }
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }
}
