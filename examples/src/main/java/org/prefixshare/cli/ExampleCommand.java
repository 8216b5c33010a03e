package org.prefixshare.cli;

import picocli.CommandLine.Command;

/** {@code prefixshare example ...}: runnable examples of the library in other frameworks' idioms. */
@Command(name = "example",
        description = "Runnable examples (dl4j-graph: prefix sharing inside a DL4J ComputationGraph; dl4j-network: "
                + "inside a MultiLayerNetwork fed by a DataSetIterator; spark: the graph trained on Spark local[N]).",
        subcommands = {
                ExampleDl4jGraphCommand.class,
                ExampleDl4jNetworkCommand.class,
                ExampleSparkCommand.class
        })
public final class ExampleCommand extends CommandGroup {
}
