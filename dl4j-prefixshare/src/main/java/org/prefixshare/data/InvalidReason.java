package org.prefixshare.data;

import java.util.Locale;

/** Why an input record was rejected. The lower-case name is used as a counter key. */
public enum InvalidReason {
    /** The line / element is not valid JSON (or not a JSON object). */
    MALFORMED_JSON,
    /** A required field is absent or null. */
    MISSING_FIELD,
    /** A response is empty (or whitespace only). */
    EMPTY_RESPONSE,
    /** A field that must be a string (or message list) has another type. */
    NOT_A_STRING,
    /** The bytes are not valid UTF-8. */
    INVALID_UTF8,
    /** Fewer than two responses. */
    TOO_FEW_RESPONSES,
    /** Implicit format: the dialogues share no "\n\nAssistant:" turn boundary. */
    NO_COMMON_PROMPT,
    /** An object holds the same key twice (which value was meant cannot be known). */
    DUPLICATE_KEY,
    /** Something follows the record on its line (a second JSON value, stray text), or follows a JSON array. */
    TRAILING_DATA,
    /** A JSONL line too long to be a record (over 256 MiB); it is not read into memory. */
    RECORD_TOO_LONG,
    /** The file itself cannot be read on (a truncated or corrupt gzip stream): never skipped. */
    CORRUPT_FILE;

    /** The counter key ("missing_field", ...). */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }
}
