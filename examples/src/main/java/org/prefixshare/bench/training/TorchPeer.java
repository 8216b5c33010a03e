package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.pack.ReferenceLogps;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The PyTorch side of {@code bench peers}: one {@code python/torchref/bench_step.py} process per layout, kept for
 * the whole run as {@link WorkerProcess} keeps a worker JVM per mode, driven over stdin/stdout (protocol in the
 * script's docstring). Its thread settings are ours: {@code torch.set_num_threads(N)} and OMP/MKL/OpenBLAS thread
 * counts of N in its environment, and the same {@code GLIBC_TUNABLES} (and OMP_WAIT_POLICY) as our workers.
 */
public final class TorchPeer implements AutoCloseable {

    /** The Python that has Debian's python3-torch (a pyenv python first on PATH cannot see it). */
    public static final String PYTHON = "/usr/bin/python3";
    /** The script, relative to the torchref directory. */
    public static final String SCRIPT = "bench_step.py";
    /** What a machine without PyTorch needs. */
    public static final String INSTALL_HINT = "apt-get install -y python3-torch libopenblas0-pthread";

    static final String TAG = "PSP ";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The two layouts of the PyTorch side. */
    public enum Layout {
        /** TRL's default: chosen and rejected concatenated, right-padded to the batch's longest. */
        PAIRED("paired", "PyTorch, TRL-style paired, padded to the batch's longest"),
        /** Each sequence its own document in one row per step, block-diagonal causal mask, restarted positions. */
        PACKED("packed", "PyTorch, paired, packed in one row, block-diagonal causal mask (dense T x T)");

        private final String key;
        private final String description;

        Layout(String key, String description) {
            this.key = key;
            this.description = description;
        }

        /** The script's --mode value. */
        public String key() {
            return key;
        }

        public String description() {
            return description;
        }
    }

    /**
     * What the PyTorch process reported about itself at start.
     *
     * @param json the HELLO object: torch, python, threads, interop_threads, env, blas_info, blas_library,
     *             reference_blas, mkldnn
     */
    public record Info(JsonNode json) {

        public String torchVersion() {
            return json.path("torch").asText("?");
        }

        public int threads() {
            return json.path("threads").asInt(-1);
        }

        /** torch's build setting BLAS_INFO ("generic" on Debian: whatever libblas.so.3 is). */
        public String blasInfo() {
            return json.path("blas_info").asText("?");
        }

        /** The BLAS libraries the process has mapped after a matmul. */
        public List<String> blasLibraries() {
            List<String> out = new ArrayList<>();
            json.path("blas_library").forEach(n -> out.add(n.asText()));
            return out;
        }

        /** True when libblas.so.3 is the reference BLAS (10-15x slower than OpenBLAS for this work). */
        public boolean referenceBlas() {
            return json.path("reference_blas").asBoolean(false);
        }

        /** One line for the report. */
        public String describe() {
            return String.format(Locale.ROOT, "torch %s (python %s), torch.get_num_threads() %d, interop threads %d, "
                            + "BLAS_INFO=%s, BLAS loaded: %s", torchVersion(), json.path("python").asText("?"),
                    threads(), json.path("interop_threads").asInt(-1), blasInfo(),
                    blasLibraries().isEmpty() ? "none seen" : String.join(", ", blasLibraries()));
        }
    }

    /** A workload the PyTorch process was given: timed like ours, or skipped with the process's reason. */
    public interface Prepared {
        /** The session, or null when skipped. */
        ModeSession session();

        /** Why the layout was skipped, or null. */
        String skipped();
    }

    private final Layout layout;
    private final Path dir;
    private final Process process;
    private final PrintWriter toPeer;
    private final BufferedReader fromPeer;
    private final Info info;
    private int prepared;

    private TorchPeer(Layout layout, Path dir, Process process) throws IOException {
        this.layout = layout;
        this.dir = dir;
        this.process = process;
        this.toPeer = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        this.fromPeer = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        this.info = new Info(expect("HELLO"));
    }

    /**
     * Starts the PyTorch process of a layout (it reports its settings, then waits for a workload).
     *
     * @param python   the interpreter ({@link #PYTHON})
     * @param torchref the {@code python/torchref} directory
     * @param threads  torch.set_num_threads and the OMP/MKL/OpenBLAS thread counts
     * @param budgetMb the packed layout's memory budget for its dense T x T attention
     * @param env      more environment variables (e.g. OMP_WAIT_POLICY, as ours get)
     */
    public static TorchPeer start(String python, Path torchref, Layout layout, int threads, double budgetMb,
                                  Map<String, String> env) throws IOException {
        Path dir = Files.createTempDirectory("prefixshare-peer-" + layout.key() + "-");
        List<String> cmd = List.of(python, torchref.resolve(SCRIPT).toString(), "--mode", layout.key(),
                "--threads", Integer.toString(threads), "--memory-budget-mb", Double.toString(budgetMb));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(dir.resolve("stderr.txt").toFile());
        for (String v : List.of("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")) {
            pb.environment().put(v, Integer.toString(threads));
        }
        pb.environment().put("GLIBC_TUNABLES", WorkerProcess.mallocTunables());
        pb.environment().putAll(env);
        return new TorchPeer(layout, dir, pb.start());
    }

    /** Whether {@code python} can import torch (a few seconds). */
    public static boolean torchAvailable(String python) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import torch").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public Layout layout() {
        return layout;
    }

    /** What the process reported at start. */
    public Info info() {
        return info;
    }

    /**
     * Hands the process a workload: the steps' examples (warm-up steps first) with their reference log-probs, the
     * initial weights' directory; returns once it has built the batches and model and warmed up (or skipped).
     *
     * @param request extra request fields (warmup, min_warmup_s, max_warmup_passes, lr, beta, memory_budget_mb)
     */
    public Prepared prepare(List<List<TokenizedExample>> steps, ReferenceLogps references, Path modelDir,
                            ObjectNode request) throws IOException {
        int n = ++prepared;
        Path workload = dir.resolve("workload-" + n + ".json");
        writeWorkload(workload, steps, references);
        ObjectNode req = request.deepCopy();
        req.put("model_dir", modelDir.toAbsolutePath().toString());
        req.put("workload", workload.toString());
        Path file = dir.resolve("request-" + n + ".json");
        Files.writeString(file, JSON.writeValueAsString(req));
        toPeer.println("PREPARE " + file);
        String[] tag = new String[1];
        JsonNode answer = expectEither("READY", "SKIPPED", tag);
        Files.deleteIfExists(workload);
        Files.deleteIfExists(file);
        if (tag[0].equals("SKIPPED")) {
            String reason = answer.path("reason").asText("skipped");
            return new Prepared() {
                public ModeSession session() {
                    return null;
                }

                public String skipped() {
                    return reason;
                }
            };
        }
        ModeSession session = new ModeSession() {
            private double lastLoss = Double.NaN;

            @Override
            public void rewarm() throws Exception {
                toPeer.println("REWARM");
                expect("REWARMED");
            }

            @Override
            public double step(int t) throws Exception {
                toPeer.println("STEP " + t);
                JsonNode took = expect("TOOK");
                lastLoss = took.path("loss").asDouble(Double.NaN);
                return took.path("ms").asDouble();
            }

            @Override
            public double lastLoss() {
                return lastLoss;
            }

            /** n more steps under torch.autograd.profiler; its table by self CPU time. */
            @Override
            public String profileOps(int n) throws Exception {
                toPeer.println("PROFILE " + n);
                return expect("PROFILE").path("table").asText();
            }

            @Override
            public ModeResult finish() throws Exception {
                toPeer.println("DONE");
                JsonNode r = expect("RESULT");
                double nan = Double.NaN;
                return new ModeResult("torch-" + layout.key(), nan, nan, nan, nan, r.path("steps").asInt(), 0, nan,
                        nan, r.path("vm_hwm_mb").asDouble(nan), true, 0, r.path("first_loss").asDouble(nan),
                        r.path("last_loss").asDouble(nan), nan,
                        r.path("trainable_params").asLong(-1));
            }

            @Override
            public void close() {
                // the process stays for the next workload; TorchPeer.close ends it
            }
        };
        return new Prepared() {
            public ModeSession session() {
                return session;
            }

            public String skipped() {
                return null;
            }
        };
    }


    /**
     * The workload as the script reads it: {@code {"steps": [[{"id", "prompt", "chosen", "rejected", "ref_chosen",
     * "ref_rejected"}, ...], ...]}} (an example's first response is the chosen one).
     */
    static void writeWorkload(Path file, List<List<TokenizedExample>> steps, ReferenceLogps references)
            throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode out = root.putArray("steps");
        for (List<TokenizedExample> step : steps) {
            ArrayNode s = out.addArray();
            for (TokenizedExample e : step) {
                if (e.responseCount() != 2) {
                    throw new IllegalArgumentException("example " + e.id() + " (" + e.source() + ") has "
                            + e.responseCount() + " responses; the PyTorch side trains chosen/rejected pairs");
                }
                ObjectNode o = s.addObject();
                o.put("id", e.id());
                ids(o.putArray("prompt"), e.prompt());
                ids(o.putArray("chosen"), e.responses().get(0));
                ids(o.putArray("rejected"), e.responses().get(1));
                o.put("ref_chosen", references.get(e.id(), 0));
                o.put("ref_rejected", references.get(e.id(), 1));
            }
        }
        JSON.writeValue(file.toFile(), root);
    }

    private static void ids(ArrayNode a, int[] ids) {
        for (int v : ids) {
            a.add(v);
        }
    }

    private JsonNode expect(String tag) throws IOException {
        String[] got = new String[1];
        return expectEither(tag, tag, got);
    }

    /** Reads stdout up to the next protocol line tagged a or b; its JSON (the tag found in {@code tag[0]}). */
    private JsonNode expectEither(String a, String b, String[] tag) throws IOException {
        String line;
        while ((line = fromPeer.readLine()) != null) {
            if (!line.startsWith(TAG)) {
                continue;
            }
            String rest = line.substring(TAG.length());
            for (String want : new String[]{a, b}) {
                if (rest.startsWith(want + " ")) {
                    tag[0] = want;
                    return JSON.readTree(rest.substring(want.length() + 1));
                }
            }
        }
        throw new IllegalStateException("PyTorch (" + layout.key() + ") ended without '" + a + "'" + stderrTail());
    }

    private String stderrTail() {
        try {
            process.waitFor(10, TimeUnit.SECONDS);
            List<String> e = Files.readAllLines(dir.resolve("stderr.txt"), StandardCharsets.UTF_8);
            return (process.isAlive() ? "" : " (exit " + process.exitValue() + ")") + ":\n"
                    + String.join("\n", e.subList(Math.max(0, e.size() - 30), e.size()));
        } catch (IOException | InterruptedException ex) {
            return "";
        }
    }

    /** Whether the process is still running (a kernel OOM kill ends it). */
    public boolean alive() {
        return process.isAlive();
    }

    /** Ends the process (asks it to exit, then forces it) and removes its files. */
    @Override
    public void close() {
        WorkerProcess.end(process, toPeer, "EXIT", dir);
    }
}
