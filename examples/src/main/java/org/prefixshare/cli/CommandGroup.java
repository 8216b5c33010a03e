package org.prefixshare.cli;

import picocli.CommandLine;

/** A command whose subcommands do the work ({@code bench}, {@code data}, ...): run alone, it prints its usage. */
public abstract class CommandGroup implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
