package org.prefixshare.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A directory written as a whole (checkpoints, exported models): the files go into a temporary sibling
 * ({@code <name>.tmp}), are flushed to the disk, and the sibling is then renamed to the final name. A crash (kill -9,
 * power loss) at any point leaves either the previous content under the final name or the new one, never a mix;
 * what it leaves behind is a {@code .tmp} sibling, which readers ignore ({@link #isTemporary}) and the next write of
 * the same parent removes ({@link #removeStaleTemporaries}).
 *
 * <pre>{@code
 * try (AtomicDirectory out = AtomicDirectory.create(target)) {
 *     write(out.dir().resolve("model.safetensors"));
 *     out.commit();
 * }
 * }</pre>
 */
public final class AtomicDirectory implements AutoCloseable {

    /** Suffix of the temporary sibling a directory is written into. */
    public static final String TEMP_SUFFIX = ".tmp";

    private final Path target;
    private final Path temp;
    private boolean committed;

    private AtomicDirectory(Path target) {
        this.target = target.toAbsolutePath().normalize();
        this.temp = this.target.resolveSibling(this.target.getFileName() + TEMP_SUFFIX);
    }

    /** Starts writing {@code target}: an empty temporary sibling is created (a stale one is removed first). */
    public static AtomicDirectory create(Path target) {
        AtomicDirectory d = new AtomicDirectory(target);
        try {
            Files.createDirectories(d.target.getParent());
            deleteRecursively(d.temp);
            Files.createDirectories(d.temp);
        } catch (IOException e) {
            throw new UncheckedIOException("could not create " + d.temp + ": " + e.getMessage(), e);
        }
        return d;
    }

    /** Where the files go until {@link #commit()}. */
    public Path dir() {
        return temp;
    }

    /** The final directory. */
    public Path target() {
        return target;
    }

    /**
     * Flushes every file to the disk and renames the temporary directory to the target (replacing an older one of
     * the same name); returns the target.
     */
    public Path commit() {
        try {
            syncTree(temp);
            Failpoint.hit("atomic-directory.before-rename");
            if (Files.exists(target)) {
                // rename(2) does not replace a non-empty directory: move the old one aside first
                Path old = target.resolveSibling(target.getFileName() + ".old" + TEMP_SUFFIX);
                deleteRecursively(old);
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
                deleteRecursively(old);
            } else {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            }
            sync(target.getParent());
            committed = true;
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("could not complete " + target + ": " + e.getMessage(), e);
        }
    }

    /** Removes the temporary directory unless it was committed. */
    @Override
    public void close() {
        if (!committed) {
            try {
                deleteRecursively(temp);
            } catch (IOException ignored) {
                // best effort: a stale temporary is removed by the next write and never read
            }
        }
    }

    /** True for a temporary sibling left by an unfinished write (never to be read as a finished directory). */
    public static boolean isTemporary(Path p) {
        return p.getFileName().toString().endsWith(TEMP_SUFFIX);
    }

    /** Removes the temporary siblings that unfinished writes left in {@code parent} whose names start with prefix. */
    public static void removeStaleTemporaries(Path parent, String prefix) {
        if (!Files.isDirectory(parent)) {
            return;
        }
        try (Stream<Path> s = Files.list(parent)) {
            for (Path p : s.filter(p -> isTemporary(p) && p.getFileName().toString().startsWith(prefix)).toList()) {
                deleteRecursively(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not clean " + parent + ": " + e.getMessage(), e);
        }
    }

    /** Deletes a file or a directory tree; nothing when it does not exist. */
    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            List<Path> all = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path q : all) {
                Files.deleteIfExists(q);
            }
        }
    }

    private static void syncTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                sync(p);
            }
        }
    }

    /** fsync of a file or a directory (a directory's entries are durable only once it is synced too). */
    private static void sync(Path p) throws IOException {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
            c.force(true);
        } catch (IOException e) {
            if (!Files.isDirectory(p)) {
                throw e;
            }
            // some file systems refuse to open a directory for syncing: the rename is still atomic
        }
    }
}
