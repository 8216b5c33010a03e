package org.prefixshare.cli;

import org.prefixshare.data.InvalidInputException;
import org.prefixshare.data.InvalidReason;
import org.prefixshare.train.TrainingHaltedException;
import picocli.CommandLine;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.stream.Collectors;

/**
 * How the command line ends a command that failed. The user's files or flags (an {@link IllegalArgumentException},
 * an {@link InvalidInputException} naming the file, line and field, a file that is missing, unreadable or corrupt):
 * one line, exit {@link #BAD_INPUT}. Training that went wrong ({@link TrainingHaltedException}: non-finite steps):
 * one line, exit {@link #TRAINING_HALTED}. Anything else is a bug and keeps its stack trace. {@code --verbose} adds
 * the stack trace to the one line.
 */
public final class Failures {

    /** Exit status of a command refused for bad input (as picocli's for a bad option). */
    public static final int BAD_INPUT = CommandLine.ExitCode.USAGE;
    /** Exit status of a training run stopped for non-finite losses, gradients or weights. */
    public static final int TRAINING_HALTED = 3;

    private Failures() {
    }

    /** Picocli's execution-exception handler. */
    public static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) throws Exception {
        int code;
        String message;
        if (e instanceof TrainingHaltedException h) {
            code = TRAINING_HALTED;
            message = h.getMessage();
        } else {
            code = BAD_INPUT;
            message = badInputMessage(e);
        }
        if (message == null) {
            throw e;
        }
        PrintWriter err = cmd.getErr();
        err.println(cmd.getColorScheme().errorText("prefixshare " + cmd.getCommandName() + ": " + oneLine(message)));
        if (ConsoleLogging.verbose(parsed)) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            err.print(trace);
        }
        err.flush();
        return code;
    }

    /** What to tell the user when {@code e} is a bad-input failure, else null (a bug). */
    public static String badInputMessage(Throwable e) {
        if (e instanceof UncheckedIOException u && u.getCause() != null) {
            IOException io = u.getCause();
            if (io instanceof NoSuchFileException || io instanceof FileNotFoundException) {
                return "no such file: " + io.getMessage();
            }
            if (io instanceof AccessDeniedException) {
                return "permission denied: " + io.getMessage();
            }
            // a file that cannot be read or written is the user's machine, not a bug; our messages name the file
            return u.getMessage() != null ? u.getMessage() : io.toString();
        }
        if (e instanceof NoSuchFileException || e instanceof FileNotFoundException) {
            return "no such file: " + e.getMessage();
        }
        if (e instanceof InvalidInputException i) {
            return i.getMessage() + (i.reason() == InvalidReason.CORRUPT_FILE ? ""
                    : " (--skip-invalid skips such records and counts them)");
        }
        return e instanceof IllegalArgumentException ? e.getMessage() : null;
    }

    /** A message on one line (a multi-line one, e.g. from a library, is joined). */
    static String oneLine(String message) {
        return message.lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.joining(" "));
    }
}
