package org.prefixshare.fuzz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.data.PreferenceExample;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.PreferenceReader;
import org.prefixshare.data.ReaderOptions;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzing of every parser of a user's files: seeded mutations of valid files never crash the JVM, never hang, never
 * print a stack trace, and either read or fail with one line naming the file. A finding keeps its input under the
 * scratch directory's findings/ for a replay; the seed makes every run the same.
 */
class FuzzTest {

    /** The seed of every run; {@code -Dprefixshare.fuzz.seed=N} explores others. */
    private static final long SEED = Long.getLong("prefixshare.fuzz.seed", 20261207L);
    /** Multiplies every target's case count ({@code -Dprefixshare.fuzz.scale=10} for a deeper run off CI). */
    private static final double SCALE = Double.parseDouble(System.getProperty("prefixshare.fuzz.scale", "1"));

    @TempDir
    Path work;

    private void runAll(List<FuzzTarget> targets) throws Exception {
        FuzzRunner runner = new FuzzRunner(work, 20);
        List<FuzzRunner.Report> reports = new ArrayList<>();
        for (FuzzTarget t : targets) {
            reports.add(runner.run(t, SEED, (int) Math.round(t.cases() * SCALE)));
        }
        System.out.print(FuzzRunner.describe(reports));
        assertTrue(reports.stream().allMatch(r -> r.findings().isEmpty()), FuzzRunner.describe(reports));
    }

    @Test
    void preferenceReaders() throws Exception {
        FuzzTarget prompt = new Targets.PreferenceFile("jsonl-prompt", PreferenceFormat.PROMPT, "data.jsonl",
                Targets.promptJsonl());
        FuzzTarget conversational = new Targets.PreferenceFile("jsonl-conversational",
                PreferenceFormat.CONVERSATIONAL, "data.jsonl", Targets.conversationalJsonl());
        runAll(List.of(prompt, Targets.structural(prompt), conversational, Targets.structural(conversational),
                new Targets.PreferenceFile("jsonl-ranked", PreferenceFormat.RANKED, "data.jsonl",
                        Targets.rankedJsonl()),
                new Targets.PreferenceFile("json-array-alpaca", PreferenceFormat.ALPACA, "data.json",
                        Targets.alpacaArray())));
    }

    @Test
    void gzipPath() throws Exception {
        runAll(List.of(Targets.gzippedContent(), Targets.gzipStream()));
    }

    @Test
    void tokenizerFiles() throws Exception {
        runAll(List.of(Targets.tokenizerConfig(), Targets.structural(Targets.tokenizerConfig()),
                Targets.tokenizerJson(), Targets.structural(Targets.tokenizerJson())));
    }

    @Test
    void modelFiles() throws Exception {
        runAll(List.of(Targets.safetensors(), Targets.modelConfig(), Targets.structural(Targets.modelConfig())));
    }

    /** 50 MB lines: a record holding 50 MB reads correctly (plain, gzipped, in an array); garbage is refused. */
    @Test
    void fiftyMegabyteLines() throws Exception {
        String huge = Mutator.hugeLine(50_000_000);
        String record = "{\"prompt\":\"p\",\"chosen\":\"" + huge + "\",\"rejected\":\"no\"}\n";
        Path jsonl = work.resolve("huge.jsonl");
        Files.writeString(jsonl, record + "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n");
        Path gz = work.resolve("huge.jsonl.gz");
        Files.write(gz, Targets.gzip(Files.readAllBytes(jsonl)));
        Path array = work.resolve("huge.json");
        Files.writeString(array, "[" + record.strip() + "]");
        for (Path p : List.of(jsonl, gz, array)) {
            List<PreferenceExample> es = new PreferenceReader(
                    ReaderOptions.of(PreferenceFormat.PROMPT)).readAll(p);
            assertEquals(huge, es.get(0).responses().get(0).text(), p.toString());
        }
        FuzzTarget reader = new Targets.PreferenceFile("50MB-lines", PreferenceFormat.PROMPT, "data.jsonl", List.of());
        byte[] garbage = new byte[50_000_000];
        new Random(SEED).nextBytes(garbage);
        for (int i = 0; i < garbage.length; i++) {
            garbage[i] = garbage[i] == '\n' ? (byte) 'x' : garbage[i];
        }
        FuzzRunner.Report r = new FuzzRunner(work, 60).runInputs(reader, List.of(garbage,
                "[".repeat(50_000_000).getBytes(StandardCharsets.US_ASCII),
                ("{\"prompt\":\"" + huge).getBytes(StandardCharsets.UTF_8)),
                List.of("50 MB of random bytes", "50 MB of '['", "50 MB record cut short"));
        System.out.print(FuzzRunner.describe(List.of(r)));
        assertTrue(r.findings().isEmpty() && r.rejected() == 3, FuzzRunner.describe(List.of(r)));
    }

    @Test
    void chatTemplates() throws Exception {
        runAll(List.of(Targets.chatTemplate()));
    }
}
