package org.prefixshare.cli.data;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code prefixshare data ...}: the data pipeline (statistics and checks over preference datasets). */
@Command(name = "data",
        description = "Preference datasets: statistics, round-trip checks.",
        subcommands = {
                DataStatsCommand.class
        })
public final class DataCommand implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
