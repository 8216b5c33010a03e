package org.prefixshare.cli;

import org.prefixshare.cli.data.DataCommand;
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
                DataCommand.class,
                BenchCommand.class,
                CheckCommand.class,
                ExampleCommand.class,
                CommandLine.HelpCommand.class
        })
public final class PrefixShareCli extends CommandGroup {

    public static void main(String[] args) {
        int code = new CommandLine(new PrefixShareCli()).execute(args);
        System.exit(code);
    }
}
