package org.prefixshare.cli;

import picocli.CommandLine;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.util.List;

/**
 * What the command line prints besides its own progress and results: by default our warnings and a few
 * informational lines; the libraries' start-up chatter (libnd4j's build banner, ND4J's backend and duplicate-TF-op
 * lines, DJL's "Failed to detect GPU count" and platform lines, SameDiff's "Added differentiated op" lines that it
 * prints on standard output) goes to debug level, shown with {@code --verbose}.
 *
 * <p>slf4j-simple reads its levels once, when the first logger is made, so {@link #configure} runs first thing in
 * {@code main}; a level the user set with {@code -D} wins.
 */
public final class ConsoleLogging {

    /** The global option that shows debug logs and stack traces. */
    public static final String VERBOSE = "--verbose";

    /** Standard-output lines of libraries that are debug information, by prefix. */
    static final List<String> STDOUT_NOISE = List.of("Added differentiated op ");

    private ConsoleLogging() {
    }

    /** Sets the log levels (before any logger exists) and filters the libraries' noise out of standard output. */
    public static void configure(boolean verbose) {
        String p = "org.slf4j.simpleLogger.";
        setDefault(p + "defaultLogLevel", verbose ? "debug" : "warn");
        setDefault(p + "log.org.prefixshare", verbose ? "debug" : "info");
        // ND4J warns about its own op tables at every start; DJL fails to count GPUs where there are none
        setDefault(p + "log.org.nd4j.imports.converters.ImportClassMapping", verbose ? "debug" : "error");
        setDefault(p + "log.ai.djl.util.cuda.CudaUtils", verbose ? "debug" : "error");
        setDefault(p + "showThreadName", verbose ? "true" : "false");
        setDefault(p + "showShortLogName", "true");
        setDefault(p + "levelInBrackets", "false");
        if (!verbose && !(System.out instanceof NoiseFilter)) {
            System.setOut(new NoiseFilter(System.out));
        }
    }

    /** True when the command line holds {@code --verbose} (before or after the command's name). */
    public static boolean verbose(String[] args) {
        for (String a : args) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    /** True when {@code --verbose} was given to any command of this parse. */
    static boolean verbose(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult r = parsed; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    /** Standard output without the lines of {@link #STDOUT_NOISE} (printed by libraries with println). */
    static final class NoiseFilter extends PrintStream {
        NoiseFilter(PrintStream out) {
            super((OutputStream) out, true, Charset.defaultCharset());
        }

        @Override
        public void println(String line) {
            if (line != null && isNoise(line)) {
                return;
            }
            super.println(line);
        }

        @Override
        public void println(Object o) {
            println(String.valueOf(o));
        }

        static boolean isNoise(String line) {
            for (String n : STDOUT_NOISE) {
                if (line.startsWith(n)) {
                    return true;
                }
            }
            return false;
        }
    }
}
