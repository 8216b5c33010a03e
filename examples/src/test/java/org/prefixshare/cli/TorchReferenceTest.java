package org.prefixshare.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.data.TestFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The command line against the PyTorch reference ({@code python/torchref}, Debian's python3-torch, which
 * {@code .ci/run} installs): models PyTorch writes at a real vocabulary (32,000, with the npm Llama-2 tokenizer)
 * are scored by {@code prefixshare score --json} and every printed log-prob is recomputed by PyTorch from the printed
 * ids; directories we write pass the strict Python reader. Skipped only where {@code /usr/bin/python3} cannot import
 * torch.
 */
class TorchReferenceTest {

    private static final String PYTHON = "/usr/bin/python3";
    private static final Path TORCHREF = Path.of("..", "python", "torchref");

    @TempDir
    static Path models;

    @BeforeAll
    static void writeModelsWithPyTorch() throws Exception {
        assumeTrue(run(List.of(PYTHON, "-c", "import torch"), null) == 0,
                "python3-torch is not installed (apt-get install -y python3-torch): PyTorch comparison skipped");
        Path tokenizerDir = TestFiles.llama2Tokenizer().getParent();
        int rc = run(List.of(PYTHON, TORCHREF.resolve("make_fixtures.py").toString(), "--vocab", "32000",
                "--tokenizer", tokenizerDir.toString(), "--out", models.toString()), models.resolve("make.log"));
        assertEquals(0, rc, Files.readString(models.resolve("make.log")));
    }

    /** Issue 24's acceptance: score --json agrees with PyTorch on the printed ids within 1e-4 relative. */
    @Test
    void scoreAgreesWithPyTorchAtTheLlama2Vocabulary() throws Exception {
        for (String model : List.of("llama-gqa-bf16-sharded", "qwen2-tied-f32")) {
            Path dir = models.resolve(model);
            CliRun score = CliRun.of("score", "--model", dir.toString(), "--input",
                    TestFiles.preferenceData().toString(), "--format", "alpaca", "--limit", "6", "--max-length",
                    "256", "--json");
            assertEquals(0, score.code(), score.err());
            Path jsonl = models.resolve(model + "-score.jsonl");
            Files.writeString(jsonl, score.out());
            Path log = models.resolve(model + "-score_ref.log");
            int rc = run(List.of(PYTHON, TORCHREF.resolve("score_ref.py").toString(), "--model", dir.toString(),
                    "--jsonl", jsonl.toString(), "--tol", "1e-4"), log);
            String report = Files.readString(log);
            assertEquals(0, rc, model + ": " + report);
            assertTrue(report.contains("OK"), report);
            System.out.println(model + ": " + report.strip());
        }
    }

    /**
     * Issue 25's independent check of our PEFT files: a LoRA run on the PyTorch-written bf16 Llama writes an adapter
     * directory; PyTorch applies it (torchref/lora.py reads our adapter_model.safetensors and adapter_config.json) and
     * recomputes every log-prob that {@code score --adapter --json} prints, within 1e-4.
     */
    @Test
    void pytorchReadsOurAdaptersAndAgreesWithOurScores(@TempDir Path dir) throws Exception {
        Path base = models.resolve("llama-gqa-bf16-sharded");
        Path run = dir.resolve("lora");
        CliRun train = CliRun.of("train", "--model", base.toString(), "--input", TestFiles.preferenceData().toString(),
                "--format", "alpaca", "--limit", "16", "--max-length", "128", "--steps", "3", "--lr", "5e-2",
                "--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "all-linear", "--eval-fraction", "0",
                "--gradient-checkpointing", "--output", run.toString());
        assertEquals(0, train.code(), train.err() + train.out());
        Path adapter = run.resolve("final");
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_model.safetensors")), train.out());
        CliRun score = CliRun.of("score", "--model", base.toString(), "--adapter", adapter.toString(), "--input",
                TestFiles.preferenceData().toString(), "--format", "alpaca", "--limit", "6", "--max-length", "128",
                "--json");
        assertEquals(0, score.code(), score.err());
        Path jsonl = dir.resolve("adapter-score.jsonl");
        Files.writeString(jsonl, score.out());
        Path log = dir.resolve("adapter-score_ref.log");
        int rc = run(List.of(PYTHON, TORCHREF.resolve("score_ref.py").toString(), "--model", base.toString(),
                "--adapter", adapter.toString(), "--jsonl", jsonl.toString(), "--tol", "1e-4"), log);
        String report = Files.readString(log);
        assertEquals(0, rc, report);
        System.out.println("LoRA adapter: " + report.strip());
        // and the adapters moved the model: without them PyTorch's log-probs differ from ours
        int without = run(List.of(PYTHON, TORCHREF.resolve("score_ref.py").toString(), "--model", base.toString(),
                "--jsonl", jsonl.toString(), "--tol", "1e-4"), dir.resolve("without.log"));
        assertEquals(1, without, "scores with the adapter must not match the base alone: "
                + Files.readString(dir.resolve("without.log")));
    }

    /** What model init, train and export write passes the strict reader (format rules, names, shapes, dtypes). */
    @Test
    void writtenDirectoriesPassThePythonReader(@TempDir Path dir) throws Exception {
        Path base = models.resolve("qwen2-tied-f32");
        Path run = dir.resolve("run");
        CliRun train = CliRun.of("train", "--model", base.toString(), "--input", TestFiles.preferenceData().toString(),
                "--format", "alpaca", "--limit", "8", "--max-length", "128", "--steps", "1", "--eval-every", "0",
                "--output", run.toString());
        assertEquals(0, train.code(), train.err() + train.out());
        Path init = dir.resolve("init");
        CliRun made = CliRun.of("model", "init", "--preset", "tiny", "--dtype", "bfloat16", "--num-layers", "1",
                "--max-shard-size", "100KB", "--output", init.toString());
        assertEquals(0, made.code(), made.err());
        for (Path written : List.of(run.resolve("final"), init)) {
            Path log = dir.resolve("check.log");
            int rc = run(List.of(PYTHON, TORCHREF.resolve("check_export.py").toString(), "--dir",
                    written.toString()), log);
            assertEquals(0, rc, written + ": " + Files.readString(log));
        }
        assertTrue(Files.isRegularFile(init.resolve("model.safetensors.index.json")), "sharded at 100KB");
    }

    private static int run(List<String> command, Path log) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command)).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        if (log != null) {
            pb.redirectOutput(log.toFile());
        } else {
            pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            if (log != null) {
                Files.writeString(log, "cannot start " + command.get(0) + ": " + e.getMessage(),
                        StandardCharsets.UTF_8);
            }
            return 127;
        }
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return 124;
        }
        return p.exitValue();
    }
}
