package org.prefixshare.data;

import java.util.Objects;

/**
 * How {@link PreferenceReader} reads a file.
 *
 * @param format           the record format
 * @param fields           the JSON field names
 * @param alpacaTemplate   prompt template for {@link PreferenceFormat#ALPACA}
 * @param implicitBoundary turn marker for {@link PreferenceFormat#IMPLICIT}: the prompt is the common prefix of the
 *                         dialogues cut just after its last occurrence (default {@code "\n\nAssistant:"})
 * @param skipInvalid      skip bad records and count them by reason instead of failing
 */
public record ReaderOptions(PreferenceFormat format, FieldNames fields, AlpacaTemplate alpacaTemplate,
                            String implicitBoundary, boolean skipInvalid) {

    public ReaderOptions {
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(fields, "fields");
        Objects.requireNonNull(alpacaTemplate, "alpacaTemplate");
        if (implicitBoundary == null || implicitBoundary.isEmpty()) {
            throw new IllegalArgumentException("implicitBoundary must be non-empty, got '" + implicitBoundary + "'");
        }
    }

    /** Default field names and templates for a format; fail on bad input. */
    public static ReaderOptions of(PreferenceFormat format) {
        return new ReaderOptions(format, FieldNames.defaults(), AlpacaTemplate.defaults(), "\n\nAssistant:", false);
    }

    public ReaderOptions withFields(FieldNames f) {
        return new ReaderOptions(format, f, alpacaTemplate, implicitBoundary, skipInvalid);
    }

    public ReaderOptions withSkipInvalid(boolean skip) {
        return new ReaderOptions(format, fields, alpacaTemplate, implicitBoundary, skip);
    }

    public ReaderOptions withAlpacaTemplate(AlpacaTemplate t) {
        return new ReaderOptions(format, fields, t, implicitBoundary, skipInvalid);
    }
}
