package org.prefixshare.cli;

import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
        // which native library loaded is debug information; a failure to load still warns
        setDefault(p + "log.org.prefixshare.ops.nativeload", verbose ? "debug" : "warn");
        setDefault(p + "showThreadName", verbose ? "true" : "false");
        setDefault(p + "showShortLogName", "true");
        setDefault(p + "levelInBrackets", "false");
        if (!verbose && !(System.out instanceof NoiseFilter)) {
            System.setOut(withoutNoise(System.out));
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

    /**
     * A stream that passes whole lines to {@code out}, except the lines of {@link #STDOUT_NOISE} (libraries print
     * them with println).
     */
    static PrintStream withoutNoise(PrintStream out) {
        return new NoiseFilter(out);
    }

    /** See {@link #withoutNoise}. */
    private static final class NoiseFilter extends PrintStream {
        NoiseFilter(PrintStream out) {
            super(new OutputStream() {
                private final ByteArrayOutputStream line = new ByteArrayOutputStream();

                @Override
                public void write(int b) {
                    line.write(b);
                    if (b == '\n') {
                        flushLine();
                    }
                }

                @Override
                public void flush() {
                    // PrintStream flushes between a println's text and its line end: a line that may still turn
                    // out to be noise waits for its end, or its line end alone would print as a blank line
                    if (line.size() > 0 && !mayBeNoise(line.toString(StandardCharsets.UTF_8))) {
                        flushLine();
                    }
                    out.flush();
                }

                private void flushLine() {
                    String text = line.toString(StandardCharsets.UTF_8);
                    line.reset();
                    for (String n : STDOUT_NOISE) {
                        if (text.startsWith(n)) {
                            return;
                        }
                    }
                    out.print(text);
                }

                private boolean mayBeNoise(String partial) {
                    for (String n : STDOUT_NOISE) {
                        if (partial.startsWith(n) || n.startsWith(partial)) {
                            return true;
                        }
                    }
                    return false;
                }
            }, true, StandardCharsets.UTF_8);
        }
    }
}
