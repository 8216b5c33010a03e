package org.prefixshare.notebook;

import jdk.jshell.execution.DirectExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;
import jdk.jshell.spi.SPIResolutionException;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs JShell's snippets in this JVM (as JShell's local execution does) and keeps each snippet's value as the object
 * it is, not only its string: {@link #invoke} hands JShell a key, and the kernel takes the object back with
 * {@link #takeResult}, so a cell ending in an image shows the image.
 *
 * <p>Snippets run one at a time on one thread of their own, so that {@link #interrupt} can interrupt a running cell
 * while the kernel's message threads stay free.
 */
final class CellExecutionControl extends DirectExecutionControl {

    /** The exception class name JShell reports for a cell stopped by {@link #interrupt}. */
    static final String INTERRUPTED = "Cell interrupted";

    private static final Object NULL = new Object();

    private final ExecutorService cellThread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "notebook-cell");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Object> results = new ConcurrentHashMap<>();
    private volatile Future<Object> running;

    @Override
    protected String invoke(Method doitMethod) throws Exception {
        Future<Object> task = cellThread.submit(() -> doitMethod.invoke(null));
        running = task;
        Object value;
        try {
            value = task.get();
        } catch (CancellationException e) {
            throw new UserException("the cell was interrupted", INTERRUPTED, new StackTraceElement[0]);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof InvocationTargetException ite ? ite.getCause() : e.getCause();
            if (cause instanceof SPIResolutionException r) {
                throw new ResolutionException(r.id(), r.getStackTrace());
            }
            throw userException(cause);
        } finally {
            running = null;
        }
        String key = UUID.randomUUID().toString();
        results.put(key, value == null ? NULL : value);
        return key;
    }

    /**
     * JShell's form of a snippet's exception, with its cause chain (as DirectExecutionControl builds it); the stack
     * ends at the snippet's own frame (package {@code REPL}): the kernel's frames below it are nobody's business.
     */
    private static UserException userException(Throwable t) {
        UserException u = new UserException(String.valueOf(t.getMessage()), t.getClass().getName(),
                userFrames(t.getStackTrace()));
        if (t.getCause() != null && t.getCause() != t) {
            u.initCause(userException(t.getCause()));
        }
        return u;
    }

    private static StackTraceElement[] userFrames(StackTraceElement[] stack) {
        for (int i = stack.length - 1; i >= 0; i--) {
            if (stack[i].getClassName().startsWith("REPL.")) {
                return java.util.Arrays.copyOf(stack, i + 1);
            }
        }
        return stack;
    }

    /**
     * The object behind a value JShell reported: the snippet's result when {@code key} is one of ours (taken out,
     * so results never pile up), else empty (JShell's own string, e.g. a declaration's default value).
     */
    Optional<Object> takeResult(String key) {
        Object v = results.remove(key);
        return v == null ? Optional.empty() : Optional.of(v == NULL ? NullValue.INSTANCE : v);
    }

    /** Drops results nobody took (a cell that failed half-way). */
    void clearResults() {
        results.clear();
    }

    /** Interrupts the running snippet, if any (it stops where it next checks its interrupt flag). */
    void interrupt() {
        Future<Object> f = running;
        if (f != null) {
            f.cancel(true);
        }
    }

    @Override
    public void stop() {
        interrupt();
    }

    @Override
    public void close() {
        cellThread.shutdownNow();
        super.close();
    }

    /** A snippet whose value is {@code null}. */
    enum NullValue { INSTANCE }

    /** Hands JShell one {@link CellExecutionControl} and lets the kernel reach it. */
    static final class Provider implements ExecutionControlProvider {

        private volatile CellExecutionControl control;

        @Override
        public String name() {
            return "prefixshare-notebook";
        }

        @Override
        public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
            control = new CellExecutionControl();
            return control;
        }

        /** The control JShell is using (after {@code JShell.builder().build()}). */
        CellExecutionControl control() {
            if (control == null) {
                throw new IllegalStateException("JShell has not started its execution engine yet");
            }
            return control;
        }
    }
}
