package org.prefixshare.data;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A Hugging Face chat template (Jinja) rendered with Jinjava, the way {@code apply_chat_template} does: the
 * variables {@code messages}, {@code add_generation_prompt}, {@code bos_token}, {@code eos_token} and the function
 * {@code raise_exception}; {@code trim_blocks} and {@code lstrip_blocks} on. Like Hugging Face, the template is
 * responsible for BOS (the rendered text is tokenised without special tokens).
 */
public final class ChatTemplate {

    /**
     * The template used when none is given: {@code bos_token}, then per message {@code <|role|>\ncontent\n}, then
     * {@code <|assistant|>\n} as generation prompt.
     */
    public static final String DEFAULT_TEMPLATE = "{{ bos_token }}{% for message in messages %}"
            + "<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

    private final String source;
    private final String origin;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    /** A template with the given special-token texts (empty strings when the tokenizer has none). */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this(source, bosToken, eosToken, "chat template");
    }

    /**
     * A template whose errors name where it came from ({@code origin}: "the chat template of
     * /models/x/tokenizer_config.json").
     */
    public ChatTemplate(String source, String bosToken, String eosToken, String origin) {
        if (source == null || source.isBlank()) {
            throw new IllegalArgumentException(origin + " is empty");
        }
        this.source = source;
        this.origin = origin;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
    }

    /** The template of a tokenizer config, else {@link #DEFAULT_TEMPLATE}, with the tokenizer's BOS / EOS texts. */
    public static ChatTemplate of(TokenizerConfig config, TextTokenizer tokenizer) {
        return of(config, tokenizer, "chat template");
    }

    /** {@link #of(TokenizerConfig, TextTokenizer)} whose errors name {@code origin} ("the chat template of FILE"). */
    public static ChatTemplate of(TokenizerConfig config, TextTokenizer tokenizer, String origin) {
        String src = config == null || config.chatTemplate() == null ? DEFAULT_TEMPLATE : config.chatTemplate();
        String bos = config != null && config.bosToken() != null ? config.bosToken() : tokenizer.bosToken();
        String eos = config != null && config.eosToken() != null ? config.eosToken() : tokenizer.eosToken();
        return new ChatTemplate(src, bos, eos, origin);
    }

    /** Called by templates: {@code raise_exception('message')}. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException("chat template raised: " + message);
    }

    /** Renders the messages; {@code addGenerationPrompt} asks the template to open an assistant turn. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> ms = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            ms.add(map);
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", ms);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        ctx.put("bos_token", bosToken);
        ctx.put("eos_token", eosToken);
        RenderResult r;
        try {
            r = jinjava.renderForResult(source, ctx);
        } catch (StackOverflowError e) {
            throw new IllegalArgumentException(origin + " is nested too deeply to render");
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(origin + " failed: " + e.getMessage(), e);
        }
        List<TemplateError> fatal = r.getErrors().stream()
                .filter(e -> e.getSeverity() == TemplateError.ErrorType.FATAL).collect(Collectors.toList());
        if (!fatal.isEmpty()) {
            throw new IllegalArgumentException(origin + " failed: " + fatal.stream()
                    .map(e -> rootMessage(e) + (e.getLineno() > 0 ? " (template line " + e.getLineno() + ")" : ""))
                    .collect(Collectors.joining("; ")));
        }
        return r.getOutput();
    }

    private static String rootMessage(TemplateError e) {
        Throwable t = e.getException();
        String msg = e.getMessage();
        while (t != null) {
            if (t.getMessage() != null && t.getMessage().startsWith("chat template raised: ")) {
                return t.getMessage();
            }
            t = t.getCause();
        }
        return msg;
    }

    /** This template with errors naming {@code origin} (e.g. "the chat template of FILE"). */
    public ChatTemplate from(String origin) {
        return new ChatTemplate(source, bosToken, eosToken, origin);
    }

    /** Where the template came from, for messages ("chat template", "the chat template of FILE"). */
    public String origin() {
        return origin;
    }

    /** The template source. */
    public String source() {
        return source;
    }
}
