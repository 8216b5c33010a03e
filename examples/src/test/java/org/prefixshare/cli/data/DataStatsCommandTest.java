package org.prefixshare.cli.data;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.cli.CliRun;
import org.prefixshare.data.TestFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataStatsCommandTest {

    @TempDir
    Path dir;

    @Test
    void statsJsonWithByteTokenizer() throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.write(f, List.of(
                "{\"prompt\":\"What is 2+2?\",\"chosen\":\"4\",\"rejected\":\"5\"}",
                "{\"prompt\":\"Say hi\",\"chosen\":\"hi\",\"rejected\":\"hi\"}",
                "{\"prompt\":\"Name a colour\",\"chosen\":\"blue\",\"rejected\":\"\"}"));
        CliRun bad = CliRun.of("data", "stats", "--input", f.toString(), "--format", "prompt", "--max-length", "64",
                "--pack-length", "128", "--json");
        assertEquals(2, bad.code(), bad.out() + bad.err());
        assertTrue(bad.err().contains(f + ":3: field 'rejected': empty_response"), bad.err());

        CliRun ok = CliRun.of("data", "stats", "--input", f.toString(), "--format", "prompt", "--max-length", "64",
                "--pack-length", "128", "--json", "--skip-invalid");
        assertEquals(0, ok.code(), ok.out() + ok.err());
        JsonNode j = ok.lastJson();
        for (String k : List.of("examples", "dropped", "paired_tokens", "shared_tokens", "token_ratio",
                "median_length", "median_prompt_completion_ratio", "rows", "packing_efficiency", "examples_per_s",
                "roundtrip_ok")) {
            assertTrue(j.has(k), "missing " + k + " in " + j);
        }
        assertEquals(2, j.get("examples").asInt());
        assertEquals(1, j.get("dropped").get("empty_response").asInt());
        assertEquals(1, j.get("identical_responses").asInt());
        assertTrue(j.get("roundtrip_ok").asBoolean());
        assertEquals(1, j.get("rows").asInt());
        // BOS + prompt, each response + EOS: paired = 2 * (P+1) + ..., shared = P+1-1 + sum (L+1)
        long p1 = 1 + "What is 2+2?".length();
        long p2 = 1 + "Say hi".length();
        assertEquals(2 * p1 + 2 + 2 + 2 * p2 + 3 + 3, j.get("paired_tokens").asLong());
        assertEquals(p1 - 1 + 3 + 3 + p2 - 1 + 4 + 4, j.get("shared_tokens").asLong());
    }

    @Test
    void badFormatListsValidNames() {
        CliRun r = CliRun.of("data", "stats", "--input", "x", "--format", "nope", "--max-length", "8",
                "--pack-length", "8");
        assertTrue(r.code() != 0);
        assertTrue(r.err().contains("prompt, conversational, implicit, alpaca, ranked"), r.err());
    }

    @Test
    void acceptanceOnRealDataWithLlama2() throws IOException {
        Path data = TestFiles.preferenceData();
        Path tok = TestFiles.llama2Tokenizer();
        CliRun r = CliRun.of("data", "stats", "--input", data.toString(), "--format", "alpaca", "--tokenizer",
                tok.toString(), "--max-length", "1024", "--pack-length", "4096", "--json");
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode j = r.lastJson();
        assertEquals(1100, j.get("examples").asInt());
        assertTrue(j.get("roundtrip_ok").asBoolean());
        assertTrue(j.get("packing_efficiency").asDouble() >= 0.97, j.toString());
        System.out.println("data stats acceptance (in-JVM): " + j);
    }
}
