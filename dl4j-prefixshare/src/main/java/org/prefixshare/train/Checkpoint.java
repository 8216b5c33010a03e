package org.prefixshare.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A training checkpoint: parameters (by Hugging Face name), optimiser state (per parameter), and the trainer state
 * (step, data cursor, BCO running mean). Written into {@code checkpoint-<step>.tmp} and renamed atomically to
 * {@code checkpoint-<step>}, so a crash never leaves a half-written checkpoint under the final name; older
 * checkpoints of the directory are then removed.
 *
 * @param step          optimiser steps done
 * @param iteratorState the training iterator's cursor ({@code IteratorState.encode()})
 * @param bcoMean       BCO running mean (0 when unused)
 * @param bcoCount      BCO running count
 * @param parameters    parameter arrays by name
 * @param optimiser     optimiser state arrays by parameter name
 */
public record Checkpoint(int step, String iteratorState, double bcoMean, double bcoCount,
                         Map<String, INDArray> parameters, Map<String, INDArray> optimiser) {

    private static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();

    private record State(int step, String iteratorState, double bcoMean, double bcoCount) {
    }

    /** Writes this checkpoint under {@code dir} and returns its directory. */
    public Path write(Path dir) {
        try {
            Files.createDirectories(dir);
            Path finalDir = dir.resolve(PREFIX + step);
            Path tmp = dir.resolve(PREFIX + step + ".tmp");
            deleteRecursively(tmp);
            Files.createDirectories(tmp.resolve("params"));
            Files.createDirectories(tmp.resolve("optimiser"));
            for (Map.Entry<String, INDArray> e : parameters.entrySet()) {
                Nd4j.saveBinary(e.getValue(), tmp.resolve("params").resolve(e.getKey()).toFile());
            }
            for (Map.Entry<String, INDArray> e : optimiser.entrySet()) {
                Nd4j.saveBinary(e.getValue(), tmp.resolve("optimiser").resolve(e.getKey()).toFile());
            }
            JSON.writeValue(tmp.resolve("trainer.json").toFile(), new State(step, iteratorState, bcoMean, bcoCount));
            deleteRecursively(finalDir);
            Files.move(tmp, finalDir, StandardCopyOption.ATOMIC_MOVE);
            try (Stream<Path> old = Files.list(dir)) {
                for (Path p : old.filter(p -> isCheckpoint(p) && !p.equals(finalDir)).toList()) {
                    deleteRecursively(p);
                }
            }
            return finalDir;
        } catch (IOException e) {
            throw new UncheckedIOException("could not write checkpoint " + step + " under " + dir, e);
        }
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

    /** Reads the checkpoint in {@code cdir}. */
    public static Checkpoint read(Path cdir) {
        try {
            State st = JSON.readValue(cdir.resolve("trainer.json").toFile(), State.class);
            return new Checkpoint(st.step(), st.iteratorState(), st.bcoMean(), st.bcoCount(),
                    readArrays(cdir.resolve("params")), readArrays(cdir.resolve("optimiser")));
        } catch (IOException e) {
            throw new UncheckedIOException("could not read checkpoint " + cdir + " (incomplete or corrupt?)", e);
        }
    }

    private static Map<String, INDArray> readArrays(Path dir) throws IOException {
        Map<String, INDArray> m = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                m.put(p.getFileName().toString(), Nd4j.readBinary(p.toFile()));
            }
        }
        return m;
    }

    private static boolean isCheckpoint(Path p) {
        String n = p.getFileName().toString();
        return Files.isDirectory(p) && n.startsWith(PREFIX) && n.substring(PREFIX.length()).matches("\\d+");
    }

    private static int stepOf(Path p) {
        return Integer.parseInt(p.getFileName().toString().substring(PREFIX.length()));
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
