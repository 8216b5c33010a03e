package org.prefixshare.notebook;

/**
 * A cell that did not compile or threw. {@link #getMessage()} is one line (the first compiler error, or the
 * exception's class and message); {@link #detail()} is what the notebook shows under it (every compiler error with
 * the offending line, or the exception's stack trace with its causes).
 */
final class CellException extends Exception {

    private final String detail;

    CellException(String message, String detail) {
        super(message);
        this.detail = detail;
    }

    /** Several lines: the errors with their source lines, or the stack trace. */
    String detail() {
        return detail;
    }
}
