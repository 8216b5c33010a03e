package org.prefixshare.cli;

import org.prefixshare.cli.data.DataCommand;
import org.prefixshare.data.InvalidInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.FileNotFoundException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;

/**
 * The {@code prefixshare} command line. Each command lives in its own class; groups ({@code bench}, {@code data},
 * ...) are commands whose subcommands do the work.
 */
@Command(name = "prefixshare",
        mixinStandardHelpOptions = true,
        version = "prefixshare 0.1.0",
        description = "Prefix-shared preference optimisation (DPO and relatives) for Deeplearning4j.",
        subcommands = {
                TrainCommand.class,
                ScoreCommand.class,
                ExportCommand.class,
                ModelCommand.class,
                DataCommand.class,
                BenchCommand.class,
                CheckCommand.class,
                ExampleCommand.class,
                CommandLine.HelpCommand.class
        })
public final class PrefixShareCli extends CommandGroup {

    /** Exit status of a command refused for bad input (as picocli's for a bad option). */
    public static final int BAD_INPUT = CommandLine.ExitCode.USAGE;

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.exit(code);
    }

    /**
     * The command line as {@link #main} runs it: a command that fails on bad input (an
     * {@link IllegalArgumentException}, an {@link InvalidInputException} naming the file, line and field, a missing
     * file) prints its message and exits with {@link #BAD_INPUT}; any other failure is a bug and keeps picocli's stack
     * trace.
     */
    public static CommandLine commandLine() {
        return new CommandLine(new PrefixShareCli()).setExecutionExceptionHandler((e, cmd, parsed) -> {
            String message = badInputMessage(e);
            if (message == null) {
                throw e;
            }
            cmd.getErr().println(cmd.getColorScheme().errorText("prefixshare " + cmd.getCommandName() + ": "
                    + message));
            return BAD_INPUT;
        });
    }

    /** What to tell the user when {@code e} is a bad-input failure, else null. */
    static String badInputMessage(Throwable e) {
        if (e instanceof UncheckedIOException u) {
            e = u.getCause();
        }
        if (e instanceof NoSuchFileException || e instanceof FileNotFoundException) {
            return "no such file: " + e.getMessage();
        }
        return e instanceof IllegalArgumentException || e instanceof InvalidInputException ? e.getMessage() : null;
    }
}
