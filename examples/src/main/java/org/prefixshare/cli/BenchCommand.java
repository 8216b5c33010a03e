package org.prefixshare.cli;

import picocli.CommandLine.Command;

/** {@code prefixshare bench ...}: benchmarks, each measured side by side against its baseline in one run. */
@Command(name = "bench",
        description = "Benchmarks (ratios measured side by side in one run).",
        subcommands = {
                BenchAttentionCommand.class,
                BenchTrainingCommand.class,
                BenchPeersCommand.class
        })
public final class BenchCommand extends CommandGroup {
}
