package org.prefixshare.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code prefixshare check ...}: self-checks of the project's claims on this machine. */
@Command(name = "check",
        description = "Self-checks of the project's claims (prefix-shared equals paired, ...).",
        subcommands = {
                CheckEquivalenceCommand.class
        })
public final class CheckCommand implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
