package org.prefixshare.fuzz;

import java.nio.file.Path;
import java.util.List;

/**
 * One parser under fuzzing: valid files to mutate, and the parse of a file. Adding a parser to the fuzz run is one
 * small class implementing this (see {@link Targets}); {@link FuzzRunner} does the rest.
 */
public interface FuzzTarget {

    /** A short name for the report ("jsonl-prompt"). */
    String name();

    /** Valid files (their bytes) to mutate. */
    List<byte[]> seeds();

    /** The file name a case is written under (the parser may look at the extension). */
    String fileName();

    /** The bytes written for a mutated case (e.g. gzipped, or embedded in a JSON document); default as is. */
    default byte[] encode(byte[] mutated) {
        return mutated;
    }

    /**
     * Parses the file as the command line would. It must return normally (the input was readable) or throw an
     * error the command line reports in one line naming the file; anything else is a finding.
     */
    void parse(Path file) throws Exception;

    /**
     * True: mutate the seeds' JSON structure ({@link Mutator#nextJson}: well-formed JSON with odd values), to reach
     * the code behind the syntax check; false (default): mutate their bytes ({@link Mutator#next}).
     */
    default boolean structural() {
        return false;
    }

    /** Cases to run (the budget of this target). */
    default int cases() {
        return 300;
    }
}
