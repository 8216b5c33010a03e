package org.prefixshare.cli;

import picocli.CommandLine.Command;

/** {@code prefixshare model ...}: model directories (init). */
@Command(name = "model",
        description = "Hugging Face model directories: init (a randomly initialised model, streamed to disk).",
        subcommands = {
                ModelInitCommand.class
        })
public final class ModelCommand extends CommandGroup {
}
