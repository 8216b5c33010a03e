package org.prefixshare.notebook;

import io.github.spencerpark.jupyter.channels.JupyterConnection;
import io.github.spencerpark.jupyter.channels.JupyterSocket;
import io.github.spencerpark.jupyter.kernel.BaseKernel;
import io.github.spencerpark.jupyter.kernel.KernelConnectionProperties;
import io.github.spencerpark.jupyter.kernel.LanguageInfo;
import io.github.spencerpark.jupyter.kernel.ReplacementOptions;
import io.github.spencerpark.jupyter.kernel.display.DisplayData;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;

/**
 * The Jupyter kernel of the prefixshare notebooks: Java cells, evaluated by JShell inside this JVM
 * ({@link CellEvaluator}), so ND4J, SameDiff, DL4J and prefixshare run in the kernel process with the class path it
 * was started with. Text a cell prints goes to the notebook; a cell's value is shown as its text, or as a PNG
 * picture when it is an image; {@link Display#display} shows more.
 *
 * <p>Started by Jupyter with the connection file as its one argument ({@code kernel.json}, written by
 * {@code examples/notebooks/install-kernel.sh}). Handlers are registered before the sockets open, and the process
 * lives until Jupyter asks it to shut down.
 */
public final class NotebookKernel extends BaseKernel {

    /** What the kernel evaluates before the first cell. */
    static final List<String> PRELUDE = List.of("import static org.prefixshare.notebook.Display.display;");

    private final CellEvaluator evaluator;
    private final LanguageInfo languageInfo;

    NotebookKernel(String classPath) {
        this.evaluator = new CellEvaluator(classPath, PRELUDE);
        this.languageInfo = new LanguageInfo.Builder("java")
                .version(Runtime.version().toString())
                .mimetype("text/x-java")
                .fileExtension(".java")
                .pygments("java")
                .codemirror("text/x-java")
                .build();
        Display.attach(value -> display(render(value)));
    }

    /** The notebook form of a value: a PNG for images, else its text. */
    DisplayData render(Object value) {
        if (value == CellExecutionControl.NullValue.INSTANCE) {
            return new DisplayData("null");
        }
        return getRenderer().render(value);
    }

    @Override
    public DisplayData eval(String code) throws Exception {
        PrintStream cellOut = System.out; // the notebook's stdout while the cell runs (BaseKernel sets it)
        PrintStream quiet = QuietLines.over(cellOut);
        System.setOut(quiet);
        try {
            Object value = evaluator.eval(code);
            return value == null ? null : render(value);
        } finally {
            quiet.flush();
            System.setOut(cellOut);
        }
    }

    @Override
    public List<String> formatError(Exception e) {
        if (e instanceof CellException c) {
            List<String> lines = new ArrayList<>();
            lines.add(errorStyler.secondary(c.getMessage()));
            if (!c.detail().equals(c.getMessage())) {
                c.detail().lines().forEach(lines::add);
            }
            return lines;
        }
        return super.formatError(e);
    }

    @Override
    public String isComplete(String code) {
        return switch (evaluator.isComplete(code)) {
            case "complete" -> IS_COMPLETE_YES;
            case "invalid" -> IS_COMPLETE_BAD;
            default -> "    ";
        };
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        CellEvaluator.Completions c = evaluator.complete(code, at);
        return c.candidates().isEmpty() ? null : new ReplacementOptions(c.candidates(), c.start(), at);
    }

    @Override
    public LanguageInfo getLanguageInfo() {
        return languageInfo;
    }

    @Override
    public String getBanner() {
        return "Java " + Runtime.version() + " (JShell in the kernel's JVM) - prefixshare notebooks";
    }

    @Override
    public void interrupt() {
        evaluator.interrupt();
    }

    @Override
    public void onShutdown(boolean isRestarting) {
        Display.detach();
        evaluator.close();
    }

    /**
     * Runs the kernel until Jupyter shuts it down.
     *
     * @param args the Jupyter connection file
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java -cp <class path> " + NotebookKernel.class.getName()
                    + " <connection file>   (Jupyter starts it from kernel.json)");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        if (!Files.isRegularFile(file)) {
            System.err.println("connection file " + file + " does not exist");
            System.exit(2);
        }
        KernelConnectionProperties props = KernelConnectionProperties.parse(
                Files.readString(file, StandardCharsets.UTF_8));
        JupyterSocket.JUPYTER_LOGGER.setLevel(Level.WARNING);
        // JShell starts (and compiles the prelude) before the sockets open: a kernel that answers is ready
        NotebookKernel kernel = new NotebookKernel(System.getProperty("java.class.path"));
        JupyterConnection connection = new JupyterConnection(props);
        kernel.becomeHandlerForConnection(connection);
        connection.connect();
        connection.waitUntilClose();
        System.exit(0);
    }
}
