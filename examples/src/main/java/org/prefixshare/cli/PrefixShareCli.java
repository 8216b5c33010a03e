package org.prefixshare.cli;

import org.prefixshare.cli.data.DataCommand;
import org.prefixshare.data.InvalidInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

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
    public static final int BAD_INPUT = Failures.BAD_INPUT;

    @CommandLine.Option(names = ConsoleLogging.VERBOSE, scope = CommandLine.ScopeType.INHERIT,
            description = "Show the libraries' debug logs, and a failure's stack trace.")
    boolean verbose;

    public static void main(String[] args) {
        ConsoleLogging.configure(ConsoleLogging.verbose(args)); // before the first logger is made
        int code = commandLine().execute(args);
        System.exit(code);
    }

    /**
     * The command line as {@link #main} runs it: a command that fails on bad input (an
     * {@link IllegalArgumentException}, an {@link InvalidInputException} naming the file, line and field, a missing
     * or corrupt file) prints its message in one line and exits with {@link #BAD_INPUT}; a training run stopped for
     * non-finite values exits with {@link Failures#TRAINING_HALTED}; any other failure is a bug and keeps picocli's
     * stack trace ({@link Failures}).
     */
    public static CommandLine commandLine() {
        return new CommandLine(new PrefixShareCli()).setExecutionExceptionHandler(Failures::handle);
    }

    /** What to tell the user when {@code e} is a bad-input failure, else null. */
    static String badInputMessage(Throwable e) {
        return Failures.badInputMessage(e);
    }
}
