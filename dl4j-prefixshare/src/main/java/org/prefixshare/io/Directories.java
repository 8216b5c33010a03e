package org.prefixshare.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Directory operations for outputs that must appear whole or not at all (model exports, adapters, checkpoints): build
 * the directory in a temporary sibling, then {@link #replace} it into place with a rename.
 */
public final class Directories {

    private Directories() {
    }

    /** Deletes {@code p} and everything under it; nothing when it does not exist. */
    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    /**
     * Moves the complete directory {@code ready} to {@code target} with an atomic rename (same file system). An
     * existing {@code target} is first renamed aside and deleted after the move, so at every instant the target name
     * holds either the old or the new directory.
     */
    public static void replace(Path ready, Path target) throws IOException {
        Path old = null;
        if (Files.exists(target)) {
            old = target.resolveSibling("." + target.getFileName() + ".old");
            deleteRecursively(old);
            move(target, old);
        }
        move(ready, target);
        if (old != null) {
            deleteRecursively(old);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + from + " to " + to + " atomically (another file system?)", e);
        }
    }
}
