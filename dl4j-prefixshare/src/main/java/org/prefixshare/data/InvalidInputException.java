package org.prefixshare.data;

/**
 * A bad input record: names the file, the 1-based line and the field (null when the whole record is bad).
 */
public final class InvalidInputException extends RuntimeException {

    private final String file;
    private final long line;
    private final String field;
    private final InvalidReason reason;

    public InvalidInputException(String file, long line, String field, InvalidReason reason, String detail) {
        super(file + ":" + line + (field == null ? "" : ": field '" + field + "'") + ": " + reason.key()
                + (detail == null ? "" : ": " + detail));
        this.file = file;
        this.line = line;
        this.field = field;
        this.reason = reason;
    }

    /** The file. */
    public String file() {
        return file;
    }

    /** The 1-based line where the bad record starts. */
    public long line() {
        return line;
    }

    /** The offending field, or null. */
    public String field() {
        return field;
    }

    /** The reason. */
    public InvalidReason reason() {
        return reason;
    }
}
