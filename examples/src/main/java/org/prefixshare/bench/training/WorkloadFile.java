package org.prefixshare.bench.training;

import org.prefixshare.data.TokenizedExample;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The examples of a run, handed to a worker process in a small binary file (ids only: no tokenizer needed). */
public final class WorkloadFile {

    private static final int MAGIC = 0x50535746; // "PSWF"

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
