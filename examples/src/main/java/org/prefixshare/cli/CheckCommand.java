package org.prefixshare.cli;

import picocli.CommandLine.Command;

/** {@code prefixshare check ...}: self-checks of the project's claims on this machine. */
@Command(name = "check",
        description = "Self-checks of the project's claims (prefix-shared equals paired, ...).",
        subcommands = {
                CheckEquivalenceCommand.class
        })
public final class CheckCommand extends CommandGroup {
}
