package org.prefixshare.cli.data;

import org.prefixshare.cli.CommandGroup;
import picocli.CommandLine.Command;

/** {@code prefixshare data ...}: the data pipeline (statistics and checks over preference datasets). */
@Command(name = "data",
        description = "Preference datasets: statistics, round-trip checks.",
        subcommands = {
                DataStatsCommand.class
        })
public final class DataCommand extends CommandGroup {
}
