package org.prefixshare.fuzz;

import org.prefixshare.cli.Failures;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a {@link FuzzTarget}: each case is a seeded mutation of a valid file, written to disk and parsed on a worker
 * thread under a time limit, with standard output and error captured. A case passes when the parse returns, or
 * throws what the command line reports as bad input in one line naming the file ({@link Failures#badInputMessage}),
 * in time, printing no stack trace. Anything else (another exception, an Error, a hang, a trace on the console) is
 * a finding: its input is kept under {@code findings/} for a replay.
 */
public final class FuzzRunner {

    /** The outcome of a target's run. */
    public record Report(String target, int cases, int read, int rejected, List<String> findings) {
        @Override
        public String toString() {
            return String.format("fuzz %-22s %5d cases: %5d read, %5d rejected with a one-line message, %d findings",
                    target, cases, read, rejected, findings.size());
        }
    }

    private final Path work;
    private final double secondsPerCase;

    /** @param work a scratch directory; {@code secondsPerCase}: the limit beyond which a case counts as a hang */
    public FuzzRunner(Path work, double secondsPerCase) {
        this.work = work;
        this.secondsPerCase = secondsPerCase;
    }

    /** Runs {@code cases} mutations of the target's seeds, from {@code seed}. */
    public Report run(FuzzTarget t, long seed, int cases) throws Exception {
        Mutator m = new Mutator(seed, t.seeds());
        List<byte[]> inputs = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < cases; i++) {
            StringBuilder kinds = new StringBuilder();
            inputs.add(t.structural() ? m.nextJson(kinds) : m.next(kinds));
            labels.add(kinds.toString());
        }
        return runInputs(t, inputs, labels);
    }

    /** Runs the given inputs (before {@link FuzzTarget#encode}); labels say what each is. */
    public Report runInputs(FuzzTarget t, List<byte[]> inputs, List<String> labels) throws Exception {
        Path dir = Files.createDirectories(work.resolve(t.name()));
        int read = 0;
        int rejected = 0;
        List<String> findings = new ArrayList<>();
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread th = new Thread(r, "fuzz-" + t.name());
            th.setDaemon(true); // a hung case must not keep the JVM alive
            return th;
        });
        PrintStream out0 = System.out;
        PrintStream err0 = System.err;
        try {
            for (int i = 0; i < inputs.size(); i++) {
                Path file = dir.resolve(t.fileName());
                Files.write(file, t.encode(inputs.get(i)));
                ByteArrayOutputStream console = new ByteArrayOutputStream();
                PrintStream capture = new PrintStream(console, true, StandardCharsets.UTF_8);
                System.setOut(capture);
                System.setErr(capture);
                String problem;
                boolean ok = false;
                Future<?> f = pool.submit(() -> {
                    t.parse(file);
                    return null;
                });
                try {
                    f.get((long) (secondsPerCase * 1000), TimeUnit.MILLISECONDS);
                    ok = true;
                    problem = null;
                } catch (TimeoutException e) {
                    f.cancel(true);
                    problem = "no answer in " + secondsPerCase + " s (a hang?)";
                    // the worker may still run: a fresh one for the next case
                    pool.shutdownNow();
                    pool = Executors.newSingleThreadExecutor(r -> {
                        Thread th = new Thread(r, "fuzz-" + t.name());
                        th.setDaemon(true);
                        return th;
                    });
                } catch (ExecutionException e) {
                    problem = judge(e.getCause(), file);
                } finally {
                    System.setOut(out0);
                    System.setErr(err0);
                }
                String printed = console.toString(StandardCharsets.UTF_8);
                if (problem == null && printed.contains("\tat ")) {
                    problem = "printed a stack trace: " + printed.lines().limit(3).toList();
                }
                if (problem != null) {
                    Path keep = Files.createDirectories(work.resolve("findings").resolve(t.name()));
                    Path saved = keep.resolve(i + "-" + t.fileName());
                    Files.copy(file, saved, StandardCopyOption.REPLACE_EXISTING);
                    findings.add("case " + i + " (" + labels.get(i) + "): " + problem + " [input " + saved + "]");
                } else if (ok) {
                    read++;
                } else {
                    rejected++;
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return new Report(t.name(), inputs.size(), read, rejected, findings);
    }

    /** Null when {@code e} is a bad-input error the command line prints in one line naming the file, else why not. */
    static String judge(Throwable e, Path file) {
        if (!(e instanceof Exception ex)) {
            return "threw " + e; // an Error: out of memory, stack overflow, a native crash report ...
        }
        String message = Failures.badInputMessage(ex);
        if (message == null) {
            StringBuilder where = new StringBuilder();
            for (StackTraceElement s : e.getStackTrace()) {
                if (where.length() < 300) {
                    where.append(" at ").append(s);
                }
            }
            return "a bug, not a bad-input error: " + e + where;
        }
        if (!message.contains(file.getFileName().toString())) {
            return "the message does not name the file: " + message;
        }
        return null;
    }

    /** The reports, with the findings grouped by what went wrong (two inputs of each kept for a replay). */
    static String describe(List<Report> reports) {
        StringBuilder b = new StringBuilder();
        for (Report r : reports) {
            b.append(r).append('\n');
            Map<String, List<String>> groups = new LinkedHashMap<>();
            for (String f : r.findings()) {
                String what = f.substring(f.indexOf("): ") + 3);
                what = what.replaceAll("\\[input .*]$", "").replaceAll("/[^ ]*/", "/.../");
                groups.computeIfAbsent(what.length() > 160 ? what.substring(0, 160) : what, k -> new ArrayList<>())
                        .add(f);
            }
            groups.forEach((what, fs) -> {
                b.append("  ").append(fs.size()).append(" x ").append(what).append('\n');
                fs.stream().limit(2).forEach(f -> b.append("      ").append(f, 0, f.indexOf(')') + 1)
                        .append(f.substring(f.lastIndexOf(" [input"))).append('\n'));
            });
        }
        return b.toString();
    }
}
