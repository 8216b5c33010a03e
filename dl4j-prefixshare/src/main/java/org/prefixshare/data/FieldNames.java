package org.prefixshare.data;

/**
 * The JSON field names the readers look up (all configurable; defaults follow TRL and Alpaca).
 *
 * @param prompt      the prompt (string, or message list in the conversational / ranked formats)
 * @param chosen      the preferred response
 * @param rejected    the dispreferred response
 * @param instruction Alpaca instruction
 * @param input       Alpaca optional input
 * @param responses   ranked format: list of responses, best first
 * @param role        message role key
 * @param content     message content key
 */
public record FieldNames(String prompt, String chosen, String rejected, String instruction, String input,
                         String responses, String role, String content) {

    /** The default names: prompt, chosen, rejected, instruction, input, responses, role, content. */
    public static FieldNames defaults() {
        return new FieldNames("prompt", "chosen", "rejected", "instruction", "input", "responses", "role", "content");
    }

    public FieldNames withPrompt(String v) {
        return new FieldNames(v, chosen, rejected, instruction, input, responses, role, content);
    }

    public FieldNames withChosen(String v) {
        return new FieldNames(prompt, v, rejected, instruction, input, responses, role, content);
    }

    public FieldNames withRejected(String v) {
        return new FieldNames(prompt, chosen, v, instruction, input, responses, role, content);
    }

    public FieldNames withInstruction(String v) {
        return new FieldNames(prompt, chosen, rejected, v, input, responses, role, content);
    }

    public FieldNames withInput(String v) {
        return new FieldNames(prompt, chosen, rejected, instruction, v, responses, role, content);
    }

    public FieldNames withResponses(String v) {
        return new FieldNames(prompt, chosen, rejected, instruction, input, v, role, content);
    }
}
