package org.prefixshare.notebook;

import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Evaluates notebook cells with JShell in this JVM: a cell is cut into JShell snippets (statements, declarations,
 * expressions) which run in order; state carries from cell to cell as in {@code jshell}. The value of a cell is the
 * object its last snippet evaluated to, when that snippet is an expression ({@code null} otherwise).
 *
 * <p>The compiler and the snippets see this JVM's class path ({@code java.class.path}): the classes the kernel
 * was started with are the classes the cells use, in the same class loader, and ND4J's native memory and state
 * live in this one process.
 */
final class CellEvaluator implements AutoCloseable {

    private final CellExecutionControl.Provider provider = new CellExecutionControl.Provider();
    private final JShell shell;
    private final SourceCodeAnalysis analysis;
    private final CellExecutionControl control;

    /**
     * @param classPath class path of the compiler (and of the snippets' loader, which delegates to this JVM's
     *                  class path first): normally {@code System.getProperty("java.class.path")}
     * @param prelude   snippets evaluated once, before the first cell (imports every notebook relies on)
     */
    CellEvaluator(String classPath, List<String> prelude) {
        this.shell = JShell.builder()
                .executionEngine(provider, Map.of())
                .compilerOptions("-Xlint:none")
                .build();
        this.analysis = shell.sourceCodeAnalysis();
        if (classPath != null && !classPath.isBlank()) {
            shell.addToClasspath(classPath);
        }
        this.control = provider.control();
        for (String p : prelude) {
            try {
                eval(p);
            } catch (CellException e) {
                throw new IllegalStateException("the kernel's prelude '" + p + "' failed: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Runs a cell.
     *
     * @return the object the cell's last snippet evaluated to; null when it is a statement or a declaration;
     *         {@link CellExecutionControl.NullValue#INSTANCE} for an expression whose value is null
     * @throws CellException a snippet did not compile or threw (later snippets do not run)
     */
    Object eval(String cell) throws CellException {
        try {
            Object last = null;
            SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(cell);
            while (info.completeness().isComplete()) {
                last = evalSnippet(info.source());
                info = analysis.analyzeCompletion(info.remaining());
            }
            if (info.completeness() != SourceCodeAnalysis.Completeness.EMPTY) {
                String rest = info.remaining().trim();
                throw new CellException("incomplete code at the end of the cell", rest);
            }
            return last;
        } finally {
            control.clearResults();
        }
    }

    private Object evalSnippet(String source) throws CellException {
        List<SnippetEvent> events = shell.eval(source);
        Object result = null;
        for (SnippetEvent e : events) {
            if (e.value() == null || !e.snippet().subKind().isExecutable()) {
                continue;
            }
            Object value = control.takeResult(e.value()).orElse(e.value());
            switch (e.snippet().subKind()) {
                case VAR_VALUE_SUBKIND, OTHER_EXPRESSION_SUBKIND, TEMP_VAR_EXPRESSION_SUBKIND -> result = value;
                default -> result = null;
            }
        }
        for (SnippetEvent e : events) {
            if (e.causeSnippet() != null) {
                continue; // an earlier snippet updated by this one
            }
            if (e.exception() != null) {
                throw runtimeError(e.exception());
            }
            if (!e.status().isDefined()) {
                throw compileError(e.snippet());
            }
        }
        return result;
    }

    private CellException compileError(Snippet snippet) {
        List<Diag> diags = shell.diagnostics(snippet).collect(Collectors.toList());
        String source = snippet.source();
        StringBuilder sb = new StringBuilder();
        String first = null;
        for (Diag d : diags) {
            if (!d.isError()) {
                continue;
            }
            String msg = d.getMessage(Locale.ROOT);
            first = first == null ? msg.lines().findFirst().orElse(msg) : first;
            sb.append("error: ").append(msg).append('\n');
            appendSourceLine(sb, source, (int) d.getStartPosition(), (int) d.getPosition());
        }
        if (first == null) {
            first = "the snippet was rejected";
            sb.append(first).append(" (").append(snippet.kind()).append("):\n").append(source);
        }
        return new CellException("compilation error: " + first, sb.toString().stripTrailing());
    }

    /** The source line holding {@code pos}, and a caret under it. */
    private static void appendSourceLine(StringBuilder sb, String source, int start, int pos) {
        if (pos < 0 || pos > source.length()) {
            return;
        }
        int lineStart = source.lastIndexOf('\n', Math.max(0, pos - 1)) + 1;
        int lineEnd = source.indexOf('\n', pos);
        if (lineEnd < 0) {
            lineEnd = source.length();
        }
        sb.append("    ").append(source, lineStart, lineEnd).append('\n');
        int from = Math.max(lineStart, Math.min(start < 0 ? pos : start, pos));
        sb.append("    ").append(" ".repeat(from - lineStart)).append("^".repeat(Math.max(1, pos - from + 1)))
                .append('\n');
    }

    private CellException runtimeError(JShellException ex) {
        StringBuilder sb = new StringBuilder();
        if (ex instanceof UnresolvedReferenceException u) {
            sb.append(u.getSnippet().source().strip()).append("\nuses declarations that are not defined: ")
                    .append(shell.unresolvedDependencies(u.getSnippet()).collect(Collectors.joining(", ")));
            return new CellException("unresolved reference", sb.toString());
        }
        List<String> causes = new ArrayList<>();
        Throwable t = ex;
        while (t != null) {
            String name = t instanceof EvalException ee ? ee.getExceptionClassName() : t.getClass().getName();
            StringBuilder one = new StringBuilder(causes.isEmpty() ? "" : "Caused by: ");
            one.append(name).append(t.getMessage() == null || "null".equals(t.getMessage()) ? ""
                    : ": " + t.getMessage()).append('\n');
            for (StackTraceElement el : t.getStackTrace()) {
                one.append("\tat ").append(el).append('\n');
            }
            causes.add(one.toString());
            t = t.getCause() == t ? null : t.getCause();
        }
        String name = ex instanceof EvalException ee ? ee.getExceptionClassName() : ex.getClass().getName();
        String message = ex.getMessage() == null || "null".equals(ex.getMessage()) ? name : name + ": "
                + ex.getMessage();
        return new CellException(message, String.join("", causes).stripTrailing());
    }

    /**
     * How complete a piece of code is, in Jupyter's words: "complete", "invalid", or "incomplete" with an indent.
     */
    String isComplete(String code) {
        SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
        while (info.completeness().isComplete()) {
            info = analysis.analyzeCompletion(info.remaining());
        }
        return switch (info.completeness()) {
            case EMPTY, COMPLETE, COMPLETE_WITH_SEMI -> "complete";
            case CONSIDERED_INCOMPLETE, DEFINITELY_INCOMPLETE -> "incomplete";
            default -> "invalid";
        };
    }

    /** Completion candidates at {@code cursor}: the start offset of the replaced text, and the candidates. */
    Completions complete(String code, int cursor) {
        int[] anchor = new int[1];
        List<SourceCodeAnalysis.Suggestion> s = analysis.completionSuggestions(code, cursor, anchor);
        List<String> texts = s.stream().filter(SourceCodeAnalysis.Suggestion::matchesType)
                .map(SourceCodeAnalysis.Suggestion::continuation).distinct().collect(Collectors.toList());
        if (texts.isEmpty()) {
            texts = s.stream().map(SourceCodeAnalysis.Suggestion::continuation).distinct()
                    .collect(Collectors.toList());
        }
        return new Completions(anchor[0], texts);
    }

    /** Completion candidates replacing {@code code[start, cursor)}. */
    record Completions(int start, List<String> candidates) {
    }

    /** Interrupts the running cell, if any. */
    void interrupt() {
        control.interrupt();
    }

    @Override
    public void close() {
        shell.close();
    }
}
