package org.prefixshare.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints on disk: a corrupt one is an error naming it and the file (never a stack trace from deep in ND4J), a
 * half-written one is never taken for a checkpoint, a non-finite one is never written, and retention keeps the last
 * good one.
 */
class CheckpointSafetyTest {

    @TempDir
    Path dir;

    private static Checkpoint checkpoint(int step, double value) {
        Map<String, INDArray> params = new LinkedHashMap<>();
        params.put("model.embed_tokens.weight", Nd4j.linspace(DataType.DOUBLE, value, 1, 64).reshape(8, 8));
        params.put("model.norm.weight", Nd4j.ones(DataType.DOUBLE, 8).muli(value));
        Map<String, INDArray> opt = new LinkedHashMap<>();
        opt.put("model.embed_tokens.weight", Nd4j.zeros(DataType.DOUBLE, 1, 128));
        opt.put("model.norm.weight", Nd4j.zeros(DataType.DOUBLE, 1, 16));
        return new Checkpoint(step, "{\"epoch\":0}", 0.0, 0.0, params, opt);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aCheckpointReadsBackExactly() {
        checkpoint(3, 0.5).write(dir);
        Checkpoint c = Checkpoint.latest(dir).orElseThrow();
        assertEquals(3, c.step());
        assertArrayEquals(checkpoint(3, 0.5).parameters().get("model.norm.weight").toDoubleVector(),
                c.parameters().get("model.norm.weight").toDoubleVector());
    }

    @Test
    void aFlippedByteIsAnErrorNamingTheCheckpointAndTheFile() throws IOException {
        Path c = checkpoint(3, 0.5).write(dir);
        Path f = c.resolve("params").resolve("model.norm.weight");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.seek(raf.length() - 3);
            int b = raf.read();
            raf.seek(raf.length() - 3);
            raf.write(b ^ 0x10);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.latest(dir));
        assertTrue(e.getMessage().contains("checkpoint-3"), e.getMessage());
        assertTrue(e.getMessage().contains("params/model.norm.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
    }

    @Test
    void aTruncatedOrMissingFileIsAnError() throws IOException {
        Path c = checkpoint(3, 0.5).write(dir);
        Path f = c.resolve("optimiser").resolve("model.embed_tokens.weight");
        byte[] bytes = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.latest(dir));
        assertTrue(e.getMessage().contains("optimiser/model.embed_tokens.weight"), e.getMessage());
        Files.delete(f);
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.latest(dir));
        assertTrue(e.getMessage().contains("optimiser/model.embed_tokens.weight"), e.getMessage());
        Files.writeString(c.resolve("trainer.json"), "{\"step\":3,\"iter");
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.latest(dir));
        assertTrue(e.getMessage().contains("trainer.json"), e.getMessage());
    }

    @Test
    void aHalfWrittenCheckpointIsNeverTakenAndIsCleanedUp() throws IOException {
        checkpoint(5, 0.5).write(dir);
        // what a crash during the write of checkpoint 7 leaves: its temporary sibling, partly filled
        Path tmp = dir.resolve("checkpoint-7.tmp");
        Files.createDirectories(tmp.resolve("params"));
        Files.write(tmp.resolve("params").resolve("model.norm.weight"), new byte[]{1, 2, 3});
        assertEquals(5, Checkpoint.latest(dir).orElseThrow().step());
        checkpoint(9, 0.25).write(dir);
        assertEquals(List.of("checkpoint-9"), names(dir), "older checkpoints and stale temporaries removed");
    }

    @Test
    void aNonFiniteCheckpointIsRefusedAndTheLastGoodOneKept() throws IOException {
        checkpoint(4, 0.5).write(dir);
        Checkpoint bad = checkpoint(8, 0.5);
        bad.parameters().get("model.norm.weight").putScalar(3, Double.NaN);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> bad.write(dir));
        assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());
        Checkpoint inf = checkpoint(8, 0.5);
        inf.optimiser().get("model.norm.weight").putScalar(0, Double.POSITIVE_INFINITY);
        assertThrows(IllegalStateException.class, () -> inf.write(dir));
        assertEquals(List.of("checkpoint-4"), names(dir));
        assertEquals(4, Checkpoint.latest(dir).orElseThrow().step());
    }

    @Test
    void retentionKeepsOnlyTheNewestAfterItIsComplete() throws IOException {
        checkpoint(2, 0.5).write(dir);
        checkpoint(4, 0.5).write(dir);
        assertEquals(List.of("checkpoint-4"), names(dir));
        assertFalse(Files.exists(dir.resolve("checkpoint-2")));
    }
}
