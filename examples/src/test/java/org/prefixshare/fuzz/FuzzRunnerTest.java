package org.prefixshare.fuzz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fuzz harness itself finds what it is meant to find (a harness that cannot fail proves nothing). */
class FuzzRunnerTest {

    @TempDir
    Path work;

    /** A target that does {@code parse} on every input "a". */
    private static FuzzTarget target(String name, ThrowingParse parse) {
        return new FuzzTarget() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public List<byte[]> seeds() {
                return List.of(new byte[]{'a'});
            }

            @Override
            public String fileName() {
                return "in.txt";
            }

            @Override
            public void parse(Path file) throws Exception {
                parse.parse(file);
            }
        };
    }

    interface ThrowingParse {
        void parse(Path file) throws Exception;
    }

    private FuzzRunner.Report run(FuzzTarget t) throws Exception {
        return new FuzzRunner(work, 0.5).runInputs(t, List.of(new byte[]{'a'}), List.of("as is"));
    }

    @Test
    void eachKindOfFailureIsAFinding() throws Exception {
        assertEquals(1, run(target("npe", f -> {
            throw new NullPointerException();
        })).findings().size(), "a bug");
        assertEquals(1, run(target("overflow", f -> {
            throw new StackOverflowError();
        })).findings().size(), "an Error");
        assertEquals(1, run(target("hang", f -> Thread.sleep(3000))).findings().size(), "a hang");
        assertEquals(1, run(target("trace", f -> System.err.println("\tat org.example.Foo.bar(Foo.java:1)")))
                .findings().size(), "a stack trace on the console");
        assertEquals(1, run(target("nameless", f -> {
            throw new IllegalArgumentException("bad input somewhere");
        })).findings().size(), "a message that does not name the file");
        assertTrue(Files.isDirectory(work.resolve("findings").resolve("npe")), "the input is kept");
    }

    @Test
    void readingOrAOneLineRefusalNamingTheFileIsFine() throws Exception {
        FuzzRunner.Report ok = run(target("ok", f -> { }));
        assertEquals(List.of(), ok.findings());
        assertEquals(1, ok.read());
        FuzzRunner.Report refused = run(target("refused", f -> {
            throw new IllegalArgumentException(f + ": not a record");
        }));
        assertEquals(List.of(), refused.findings());
        assertEquals(1, refused.rejected());
    }

    @Test
    void mutationsAreSeeded() {
        List<byte[]> seeds = List.of("{\"a\": [1, 2.5, \"x\"]}".getBytes());
        Mutator a = new Mutator(7, seeds);
        Mutator b = new Mutator(7, seeds);
        for (int i = 0; i < 50; i++) {
            assertEquals(new String(a.next(new StringBuilder())), new String(b.next(new StringBuilder())));
            assertEquals(new String(a.nextJson(new StringBuilder())), new String(b.nextJson(new StringBuilder())));
        }
    }
}
