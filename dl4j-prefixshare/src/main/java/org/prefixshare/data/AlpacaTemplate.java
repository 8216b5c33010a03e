package org.prefixshare.data;

import java.util.Objects;

/**
 * The Alpaca prompt template: {@code {instruction}} and {@code {input}} are replaced; the second template is used
 * when the input is absent or empty. The defaults are Stanford Alpaca's.
 *
 * @param withInput    template used when the record has a non-empty input
 * @param withoutInput template used otherwise
 */
public record AlpacaTemplate(String withInput, String withoutInput) {

    /** Stanford Alpaca's prompt, ending with {@code "### Response:\n"}. */
    public static AlpacaTemplate defaults() {
        return new AlpacaTemplate(
                "Below is an instruction that describes a task, paired with an input that provides further context. "
                        + "Write a response that appropriately completes the request.\n\n"
                        + "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
                "Below is an instruction that describes a task. "
                        + "Write a response that appropriately completes the request.\n\n"
                        + "### Instruction:\n{instruction}\n\n### Response:\n");
    }

    public AlpacaTemplate {
        Objects.requireNonNull(withInput, "withInput");
        Objects.requireNonNull(withoutInput, "withoutInput");
        if (!withInput.contains("{instruction}") || !withoutInput.contains("{instruction}")) {
            throw new IllegalArgumentException("Alpaca templates must contain {instruction}; got '" + withInput
                    + "' / '" + withoutInput + "'");
        }
    }

    /** Renders the prompt of one record. */
    public String render(String instruction, String input) {
        if (input == null || input.isEmpty()) {
            return withoutInput.replace("{instruction}", instruction);
        }
        return withInput.replace("{instruction}", instruction).replace("{input}", input);
    }
}
