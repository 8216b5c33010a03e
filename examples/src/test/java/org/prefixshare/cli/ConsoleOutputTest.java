package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a user sees, from a real {@code prefixshare} process (main, as the script runs it): our progress and results
 * only. The libraries' start-up chatter stays out of the console; progress is on stderr, results and --json's last
 * line on stdout.
 */
class ConsoleOutputTest {

    /** Lines the libraries print by default and we keep at debug level. */
    static final List<String> NOISE = List.of("GCC:", "STD version", "Backend build information",
            "Duplicate TF op mapping", "Failed to detect GPU count", "Added differentiated op",
            "Loaded [CpuBackend]", "Number of threads used", "Found matching platform", "Extracting native/lib");

    @Test
    void trainPrintsProgressAndResultsOnlyAndEndsWithJson(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("d.jsonl");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            b.append("{\"prompt\":\"Question ").append(i).append("?\",\"chosen\":\"A good answer ").append(i)
                    .append(".\",\"rejected\":\"No.\"}\n");
        }
        Files.writeString(data, b);
        String java = ProcessHandle.current().info().command().orElse("java");
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(java, "-Xmx1g", "-Dorg.bytedeco.javacpp.maxbytes=3G", "-cp",
                System.getProperty("java.class.path"), PrefixShareCli.class.getName(), "train", "--input",
                data.toString(), "--tokenizer", TestData.llama2Tokenizer().toString(), "--steps", "2", "--rows", "1",
                "--eval-every", "0", "--output", dir.resolve("run").toString(), "--json")
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "train did not end in 600 s");
        String stdout = Files.readString(out);
        String stderr = Files.readString(err);
        assertEquals(0, p.exitValue(), stdout + stderr);
        for (String noise : NOISE) {
            assertFalse(stdout.contains(noise) || stderr.contains(noise), "'" + noise + "' printed:\n" + stdout
                    + "\n---\n" + stderr);
        }
        assertFalse(stderr.contains("\tat "), stderr);
        assertFalse(stdout.strip().contains("\n\n"), "no blank lines where noise was filtered out:\n" + stdout);
        assertTrue(stderr.contains("step 2/2") && stderr.contains("elapsed"), "progress on stderr: " + stderr);
        assertFalse(stdout.contains("step 2/2"), "no progress on stdout: " + stdout);
        String[] lines = stdout.strip().split("\n");
        assertTrue(new ObjectMapper().readTree(lines[lines.length - 1]).has("train_samples_per_s"), stdout);
    }
}
