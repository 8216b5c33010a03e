package org.prefixshare.bench.training;

import org.prefixshare.data.TokenizedExample;
import org.prefixshare.pack.ReferenceLogps;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The examples of a run, handed to a worker process in a small binary file (ids only: no tokenizer needed), and their
 * precomputed reference log-probs in a second one.
 */
public final class WorkloadFile {

    private static final int MAGIC = 0x50535746; // "PSWF"
    private static final int REFERENCES_MAGIC = 0x50535752; // "PSWR"

    private WorkloadFile() {
    }

    /** Writes the steps' examples. */
    public static void write(Path file, List<List<TokenizedExample>> steps) {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file)))) {
            out.writeInt(MAGIC);
            out.writeInt(steps.size());
            for (List<TokenizedExample> step : steps) {
                out.writeInt(step.size());
                for (TokenizedExample e : step) {
                    out.writeLong(e.id());
                    out.writeUTF(e.source());
                    writeIds(out, e.prompt());
                    out.writeInt(e.responseCount());
                    for (int[] r : e.responses()) {
                        writeIds(out, r);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Reads what {@link #write} wrote. */
    public static List<List<TokenizedExample>> read(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readInt() != MAGIC) {
                throw new IllegalArgumentException(file + " is not a workload file");
            }
            int n = in.readInt();
            List<List<TokenizedExample>> steps = new ArrayList<>(n);
            for (int s = 0; s < n; s++) {
                int k = in.readInt();
                List<TokenizedExample> step = new ArrayList<>(k);
                for (int i = 0; i < k; i++) {
                    long id = in.readLong();
                    String source = in.readUTF();
                    int[] prompt = readIds(in);
                    int r = in.readInt();
                    List<int[]> responses = new ArrayList<>(r);
                    for (int j = 0; j < r; j++) {
                        responses.add(readIds(in));
                    }
                    step.add(new TokenizedExample(id, source, prompt, responses, 0));
                }
                steps.add(step);
            }
            return steps;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** Writes the reference log-probs of every response of the steps' examples (exact doubles). */
    public static void writeReferences(Path file, List<List<TokenizedExample>> steps, ReferenceLogps references) {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file)))) {
            out.writeInt(REFERENCES_MAGIC);
            out.writeInt(steps.stream().mapToInt(List::size).sum());
            for (List<TokenizedExample> step : steps) {
                for (TokenizedExample e : step) {
                    out.writeLong(e.id());
                    out.writeInt(e.responseCount());
                    for (int r = 0; r < e.responseCount(); r++) {
                        out.writeDouble(references.get(e.id(), r));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Reads what {@link #writeReferences} wrote. */
    public static ReferenceLogps readReferences(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readInt() != REFERENCES_MAGIC) {
                throw new IllegalArgumentException(file + " is not a reference log-probs file");
            }
            int n = in.readInt();
            Map<Long, double[]> byExample = new HashMap<>();
            for (int i = 0; i < n; i++) {
                long id = in.readLong();
                double[] v = new double[in.readInt()];
                for (int r = 0; r < v.length; r++) {
                    v[r] = in.readDouble();
                }
                byExample.put(id, v);
            }
            return (id, rank) -> {
                double[] v = byExample.get(id);
                return v == null || rank >= v.length ? Double.NaN : v[rank];
            };
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static void writeIds(DataOutputStream out, int[] ids) throws IOException {
        out.writeInt(ids.length);
        for (int v : ids) {
            out.writeInt(v);
        }
    }

    private static int[] readIds(DataInputStream in) throws IOException {
        int[] v = new int[in.readInt()];
        for (int i = 0; i < v.length; i++) {
            v[i] = in.readInt();
        }
        return v;
    }
}
