package org.prefixshare.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.io.AtomicDirectory;
import org.prefixshare.io.Failpoint;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A training checkpoint: parameters (by Hugging Face name), optimiser state (per parameter), and the trainer state
 * (step, data cursor, BCO running mean, skipped-step counts).
 *
 * <p>Crash safety: the files are written into {@code checkpoint-<step>.tmp}, flushed to the disk and renamed to
 * {@code checkpoint-<step>} ({@link AtomicDirectory}), so a crash never leaves a half-written checkpoint under a
 * checkpoint's name; {@code trainer.json}, written last, records each file's size and CRC32C, so a checkpoint damaged
 * later is reported (naming the file) rather than loaded. A checkpoint holding a NaN or an infinity is refused
 * before anything is written. Retention: once the new checkpoint is complete, the older ones (and temporaries left
 * by crashes) are removed, so the newest complete checkpoint always stays.
 *
 * @param step          optimiser steps done
 * @param iteratorState the training iterator's cursor ({@code IteratorState.encode()})
 * @param bcoMean       BCO running mean (0 when unused)
 * @param bcoCount      BCO running count
 * @param parameters    parameter arrays by name
 * @param optimiser     optimiser state arrays by parameter name
 * @param guard         skipped-step counts of the {@link NonFiniteGuard}
 */
public record Checkpoint(int step, String iteratorState, double bcoMean, double bcoCount,
                         Map<String, INDArray> parameters, Map<String, INDArray> optimiser,
                         NonFiniteGuard.State guard) {

    private static final String PREFIX = "checkpoint-";
    private static final String TRAINER = "trainer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A checkpoint of a run that skipped no step. */
    public Checkpoint(int step, String iteratorState, double bcoMean, double bcoCount,
                      Map<String, INDArray> parameters, Map<String, INDArray> optimiser) {
        this(step, iteratorState, bcoMean, bcoCount, parameters, optimiser, NonFiniteGuard.State.FRESH);
    }

    public Checkpoint {
        if (guard == null) {
            guard = NonFiniteGuard.State.FRESH;
        }
    }

    /** trainer.json; {@code files}: relative path -> "size crc32c-hex" of every array file (absent before v2). */
    private record State(int step, String iteratorState, double bcoMean, double bcoCount, Long skippedSteps,
                         Integer consecutiveSkips, Double firstLoss, Map<String, String> files) {
    }

    /**
     * Writes this checkpoint under {@code dir} and returns its directory.
     *
     * @throws IllegalStateException when a parameter or optimiser array holds a NaN or an infinity (nothing is
     *                               written and the existing checkpoints stay)
     */
    public Path write(Path dir) {
        String bad = NonFiniteGuard.firstNonFinite(parameters);
        String badState = bad == null ? NonFiniteGuard.firstNonFinite(optimiser) : null;
        if (bad != null || badState != null) {
            throw new IllegalStateException("checkpoint " + step + " not written: " + (bad != null
                    ? "parameter " + bad : "the optimiser state of " + badState) + " holds NaN or infinite values");
        }
        Path finalDir = dir.resolve(PREFIX + step);
        try (AtomicDirectory out = AtomicDirectory.create(finalDir)) {
            Path tmp = out.dir();
            Files.createDirectories(tmp.resolve("params"));
            Files.createDirectories(tmp.resolve("optimiser"));
            Map<String, String> files = new LinkedHashMap<>();
            for (Map.Entry<String, INDArray> e : parameters.entrySet()) {
                files.put(save(tmp, "params", e.getKey(), e.getValue()), null);
            }
            Failpoint.hit("checkpoint.params-written");
            for (Map.Entry<String, INDArray> e : optimiser.entrySet()) {
                files.put(save(tmp, "optimiser", e.getKey(), e.getValue()), null);
            }
            for (String f : files.keySet()) {
                files.put(f, fingerprint(tmp.resolve(f)));
            }
            JSON.writeValue(tmp.resolve(TRAINER).toFile(), new State(step, iteratorState, bcoMean, bcoCount,
                    guard.skipped(), guard.consecutive(), guard.firstLoss(), files));
            out.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("could not write checkpoint " + step + " under " + dir + ": "
                    + e.getMessage(), e);
        }
        Failpoint.hit("checkpoint.before-retention");
        removeOthers(dir, finalDir);
        return finalDir;
    }

    private static String save(Path root, String sub, String name, INDArray a) throws IOException {
        if (name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new IllegalArgumentException("array name '" + name + "' cannot be a file name");
        }
        Nd4j.saveBinary(a, root.resolve(sub).resolve(name).toFile());
        return sub + "/" + name;
    }

    /** Retention: every other checkpoint and every temporary left by a crash goes once {@code keep} is complete. */
    private static void removeOthers(Path dir, Path keep) {
        try (Stream<Path> old = Files.list(dir)) {
            for (Path p : old.filter(p -> isCheckpoint(p) && !p.equals(keep)).toList()) {
                AtomicDirectory.deleteRecursively(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not remove older checkpoints under " + dir + ": " + e.getMessage(),
                    e);
        }
        AtomicDirectory.removeStaleTemporaries(dir, PREFIX);
    }

    /** The newest complete checkpoint under {@code dir}, if any. */
    public static Optional<Checkpoint> latest(Path dir) {
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Checkpoint::isCheckpoint)
                    .max(Comparator.comparingInt(Checkpoint::stepOf))
                    .map(Checkpoint::read);
        } catch (IOException e) {
            throw new UncheckedIOException("could not list " + dir, e);
        }
    }

    /** The step of the newest checkpoint under {@code dir} (its files unread), if any. */
    public static Optional<Integer> latestStep(Path dir) {
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Checkpoint::isCheckpoint).map(Checkpoint::stepOf).max(Integer::compare);
        } catch (IOException e) {
            throw new UncheckedIOException("could not list " + dir, e);
        }
    }

    /**
     * Reads the checkpoint in {@code cdir}.
     *
     * @throws IllegalArgumentException when it is incomplete or corrupt (the message names the file)
     */
    public static Checkpoint read(Path cdir) {
        Path trainer = cdir.resolve(TRAINER);
        State st;
        try {
            st = JSON.readValue(trainer.toFile(), State.class);
        } catch (IOException e) {
            throw corrupt(cdir, TRAINER + " cannot be read (" + firstLine(e.getMessage()) + ")");
        }
        if (st.files() != null) {
            for (Map.Entry<String, String> f : st.files().entrySet()) {
                String actual;
                try {
                    actual = fingerprint(cdir.resolve(f.getKey()));
                } catch (IOException e) {
                    throw corrupt(cdir, f.getKey() + " is missing or unreadable");
                }
                if (!actual.equals(f.getValue())) {
                    throw corrupt(cdir, f.getKey() + " (size and CRC32C " + actual + ", written as " + f.getValue()
                            + ")");
                }
            }
        }
        NonFiniteGuard.State guard = new NonFiniteGuard.State(
                st.skippedSteps() == null ? 0 : st.skippedSteps(),
                st.consecutiveSkips() == null ? 0 : st.consecutiveSkips(),
                st.firstLoss() == null ? Double.NaN : st.firstLoss());
        return new Checkpoint(st.step(), st.iteratorState(), st.bcoMean(), st.bcoCount(),
                readArrays(cdir, "params"), readArrays(cdir, "optimiser"), guard);
    }

    private static IllegalArgumentException corrupt(Path cdir, String what) {
        return new IllegalArgumentException("checkpoint " + cdir + " is corrupt or incomplete: " + what + ". Delete "
                + "it to start the run again, or train into another --output");
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    private static Map<String, INDArray> readArrays(Path cdir, String sub) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(cdir.resolve(sub))) {
            for (Path p : s.sorted().toList()) {
                try {
                    m.put(p.getFileName().toString(), Nd4j.readBinary(p.toFile()));
                } catch (IOException | RuntimeException e) {
                    throw corrupt(cdir, sub + "/" + p.getFileName() + " (" + firstLine(e.getMessage()) + ")");
                }
            }
        } catch (IOException e) {
            throw corrupt(cdir, sub + "/ cannot be listed");
        }
        return m;
    }

    /** "size crc32c-hex" of a file. */
    private static String fingerprint(Path f) throws IOException {
        CRC32C crc = new CRC32C();
        long size = 0;
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(f)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                crc.update(buf, 0, n);
                size += n;
            }
        }
        return size + " " + Long.toHexString(crc.getValue());
    }

    private static boolean isCheckpoint(Path p) {
        String n = p.getFileName().toString();
        return Files.isDirectory(p) && n.startsWith(PREFIX) && n.substring(PREFIX.length()).matches("\\d+");
    }

    private static int stepOf(Path p) {
        return Integer.parseInt(p.getFileName().toString().substring(PREFIX.length()));
    }
}
