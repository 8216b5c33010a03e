package org.prefixshare.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code prefixshare train}: YAML config, flag precedence, the final JSON line, the output directory. */
class TrainCommandTest {

    @TempDir
    Path dir;

    private static String run(String... args) {
        StringWriter out = new StringWriter();
        CommandLine cl = PrefixShareCli.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(out));
        int code = cl.execute(args);
        assertEquals(0, code, out.toString());
        return out.toString();
    }

    @Test
    void yamlConfigWithFlagOverrideEndsWithJsonMetrics() throws IOException {
        Path yaml = dir.resolve("train.yaml");
        Files.writeString(yaml, String.join("\n",
                "examples: 40",
                "steps: 5",
                "eval-every: 0",
                "rows: 2",
                "pack-length: 256",
                "loss: sigmoid,sft:0.5",
                "reference: live",
                "eval-fraction: 0.25",
                ""));
        Path out = dir.resolve("run");
        String printed = run("train", "--config", yaml.toString(), "--steps", "3", "--output", out.toString(),
                "--json");
        String[] lines = printed.strip().split("\n");
        JsonNode last = new ObjectMapper().readTree(lines[lines.length - 1]);
        assertEquals(3, last.get("steps").asInt(), "the --steps flag wins over the YAML value");
        assertTrue(last.has("eval_rewards_accuracy") && last.has("train_samples_per_s"), printed);
        assertTrue(last.has("rewards/margins") && last.has("logps/chosen"), "TRL's metric names");
        List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(4, metrics.size(), "3 training lines and the final evaluation: " + metrics);
        assertTrue(Files.isDirectory(out.resolve("checkpoint-3")), "a checkpoint at the last step");
        assertNotEquals(-1, printed.indexOf("embedded synthetic preference task"));

        String again = run("train", "--config", yaml.toString(), "--steps", "3", "--output", out.toString(),
                "--json");
        String[] againLines = again.strip().split("\n");
        JsonNode rerun = new ObjectMapper().readTree(againLines[againLines.length - 1]);
        assertTrue(rerun.path("already_complete").asBoolean(), "a finished run is not trained again: " + again);
        assertTrue(again.contains("Pass --output DIR"), again);
        assertEquals(4, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "nothing appended");
    }

    @Test
    void unknownYamlKeyIsAnError() throws IOException {
        Path yaml = dir.resolve("bad.yaml");
        Files.writeString(yaml, "stepz: 3\n");
        StringWriter out = new StringWriter();
        CommandLine cl = PrefixShareCli.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(out));
        int code = cl.execute("train", "--config", yaml.toString(), "--output", dir.resolve("x").toString());
        assertNotEquals(0, code);
        assertTrue(out.toString().contains("unknown key 'stepz'"), out.toString());
    }
}
