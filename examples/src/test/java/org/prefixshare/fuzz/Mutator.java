package org.prefixshare.fuzz;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Seeded mutations of valid files, the way a disk, a network, an editor or a careless script breaks them: truncate,
 * flip bits, splice in a piece of another (or the same) file, delete a piece, swap in huge or special numbers, nest
 * brackets deeply, insert invalid UTF-8, insert JSON punctuation. Each case applies one to three of them. The 50 MB
 * lines are not random (they cost a second each): {@link #hugeLine} makes one on purpose.
 */
public final class Mutator {

    /** Numbers no parser should choke on. */
    static final List<String> HUGE_NUMBERS = List.of("1e999999999", "-1e-999999999", "1E+2147483648", "NaN",
            "Infinity", "-Infinity", "18446744073709551616", "9".repeat(999), "9".repeat(1500), "0." + "0".repeat(2000)
                    + "1", "-0", "1e", "0x1F", "+1", ".5", "1.7976931348623157E309");
    /** Bytes that are not UTF-8: a lone continuation, a truncated sequence, an overlong slash, a surrogate, 0xFF. */
    static final List<byte[]> INVALID_UTF8 = List.of(new byte[]{(byte) 0x80}, new byte[]{(byte) 0xC3, 0x28},
            new byte[]{(byte) 0xE2, (byte) 0x82}, new byte[]{(byte) 0xC0, (byte) 0xAF},
            new byte[]{(byte) 0xED, (byte) 0xA0, (byte) 0x80}, new byte[]{(byte) 0xFF}, new byte[]{(byte) 0xF4,
                    (byte) 0x90, (byte) 0x80, (byte) 0x80}, new byte[]{0});
    static final String PUNCTUATION = "{}[]:,\"\\\n ";

    private final Random random;
    private final List<byte[]> seeds;

    public Mutator(long seed, List<byte[]> seeds) {
        this.random = new Random(seed);
        this.seeds = seeds;
    }

    /** The name of each kind of mutation, in the order {@link #mutateOnce} numbers them. */
    static final List<String> KINDS = List.of("truncate", "flip", "splice", "delete", "huge-number", "deep-nesting",
            "invalid-utf8", "punctuation", "duplicate-piece");

    /** A mutated copy of a random seed; {@code applied} receives the kinds used. */
    public byte[] next(StringBuilder applied) {
        byte[] b = seeds.get(random.nextInt(seeds.size())).clone();
        int n = 1 + random.nextInt(3);
        for (int i = 0; i < n; i++) {
            int kind = random.nextInt(KINDS.size());
            applied.append(i == 0 ? "" : "+").append(KINDS.get(kind));
            b = mutateOnce(b, kind);
        }
        return b;
    }

    byte[] mutateOnce(byte[] b, int kind) {
        int at = b.length == 0 ? 0 : random.nextInt(b.length + 1);
        switch (kind) {
            case 0:
                return Arrays.copyOf(b, at);
            case 1: {
                byte[] c = b.clone();
                int flips = 1 + random.nextInt(8);
                for (int i = 0; i < flips && c.length > 0; i++) {
                    c[random.nextInt(c.length)] ^= (byte) (1 << random.nextInt(8));
                }
                return c;
            }
            case 2: {
                byte[] other = seeds.get(random.nextInt(seeds.size()));
                int from = random.nextInt(other.length + 1);
                int len = Math.min(other.length - from, random.nextInt(256));
                return insert(b, at, Arrays.copyOfRange(other, from, from + len));
            }
            case 3: {
                int len = Math.min(b.length - at, random.nextInt(64));
                byte[] c = new byte[b.length - len];
                System.arraycopy(b, 0, c, 0, at);
                System.arraycopy(b, at + len, c, at, b.length - at - len);
                return c;
            }
            case 4:
                return replaceNumberOrInsert(b, HUGE_NUMBERS.get(random.nextInt(HUGE_NUMBERS.size())));
            case 5: {
                int depth = 1 + random.nextInt(random.nextBoolean() ? 50 : 5000);
                boolean objects = random.nextBoolean();
                String open = objects ? "{\"a\":" : "[";
                String close = objects ? "}" : "]";
                boolean balanced = random.nextInt(3) > 0;
                String s = open.repeat(depth) + "1" + (balanced ? close.repeat(depth) : "");
                return insert(b, at, s.getBytes(StandardCharsets.UTF_8));
            }
            case 6:
                return insert(b, at, INVALID_UTF8.get(random.nextInt(INVALID_UTF8.size())));
            case 7: {
                byte[] p = new byte[1 + random.nextInt(4)];
                for (int i = 0; i < p.length; i++) {
                    p[i] = (byte) PUNCTUATION.charAt(random.nextInt(PUNCTUATION.length()));
                }
                return insert(b, at, p);
            }
            default: {
                int from = b.length == 0 ? 0 : random.nextInt(b.length);
                int len = Math.min(b.length - from, 1 + random.nextInt(512));
                return insert(b, at, Arrays.copyOfRange(b, from, from + len));
            }
        }
    }

    /** Replaces a random run of digits with {@code number}, or inserts it when there is none. */
    private byte[] replaceNumberOrInsert(byte[] b, String number) {
        int start = b.length == 0 ? 0 : random.nextInt(b.length);
        for (int i = start; i < b.length; i++) {
            if (b[i] >= '0' && b[i] <= '9') {
                int end = i;
                while (end < b.length && ((b[end] >= '0' && b[end] <= '9') || b[end] == '.' || b[end] == 'e'
                        || b[end] == '-')) {
                    end++;
                }
                byte[] n = number.getBytes(StandardCharsets.UTF_8);
                byte[] c = new byte[b.length - (end - i) + n.length];
                System.arraycopy(b, 0, c, 0, i);
                System.arraycopy(n, 0, c, i, n.length);
                System.arraycopy(b, end, c, i + n.length, b.length - end);
                return c;
            }
        }
        return insert(b, start, number.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] insert(byte[] b, int at, byte[] piece) {
        ByteArrayOutputStream o = new ByteArrayOutputStream(b.length + piece.length);
        o.write(b, 0, at);
        o.write(piece, 0, piece.length);
        o.write(b, at, b.length - at);
        return o.toByteArray();
    }

    /** Values a structural mutation puts in place of a JSON value. */
    private static final List<String> ODD_VALUES = List.of("\"\"", "\"x\"", "-1", "0", "2147483648",
            "-9223372036854775809", "1e308", "-1e308", "1.5", "true", "null", "[]", "{}", "[1,2,3]",
            "{\"type\":\"BPE\"}", "\"" + "y".repeat(10_000) + "\"", "[".repeat(200) + "]".repeat(200),
            "\"\\ud800\"", "\"<s>\"", "\"\\u0000\"");

    /**
     * A structurally mutated copy of a random JSON (or JSONL) seed: still well-formed JSON, so it gets past the
     * syntax check to the code that reads the values. One to three of: a value replaced by an odd one (wrong type,
     * huge, negative, empty, deeply nested), a key deleted, an array element duplicated, two values swapped.
     */
    public byte[] nextJson(StringBuilder applied) {
        byte[] seed = seeds.get(random.nextInt(seeds.size()));
        ObjectMapper om = new ObjectMapper();
        try {
            String text = new String(seed, StandardCharsets.UTF_8);
            List<String> lines = new ArrayList<>(text.lines().filter(l -> !l.isBlank()).toList());
            boolean jsonl = false;
            JsonNode root;
            int which = 0;
            try {
                root = om.readerFor(JsonNode.class)
                        .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                        .readValue(text);
            } catch (IOException notOneDocument) {
                jsonl = true; // one record per line
                which = random.nextInt(lines.size());
                root = om.readTree(lines.get(which));
            }
            int n = 1 + random.nextInt(3);
            for (int i = 0; i < n; i++) {
                List<JsonNode> containers = new ArrayList<>();
                collect(root, containers);
                if (containers.isEmpty()) {
                    break; // everything was deleted already
                }
                JsonNode c = containers.get(random.nextInt(containers.size()));
                int kind = random.nextInt(4);
                applied.append(i == 0 ? "" : "+").append(List.of("odd-value", "delete-key", "duplicate-element",
                        "swap-values").get(kind));
                mutateTree(om, c, kind);
            }
            if (!jsonl) {
                return om.writeValueAsBytes(root);
            }
            lines.set(which, om.writeValueAsString(root));
            return (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("a seed that is not JSON: " + e.getMessage(), e);
        }
    }

    private static void collect(JsonNode n,
                                List<JsonNode> out) {
        if (n.isContainerNode() && n.size() > 0) {
            out.add(n);
            n.forEach(c -> collect(c, out));
        }
    }

    private void mutateTree(ObjectMapper om, JsonNode c,
                            int kind) throws IOException {
        JsonNode odd = om.readTree(ODD_VALUES.get(random.nextInt(ODD_VALUES.size())));
        if (c instanceof ObjectNode o) {
            List<String> keys = new ArrayList<>();
            o.fieldNames().forEachRemaining(keys::add);
            String k = keys.get(random.nextInt(keys.size()));
            switch (kind) {
                case 0 -> o.set(k, odd);
                case 1 -> o.remove(k);
                case 2 -> o.set(k + "_", o.get(k));
                default -> {
                    String k2 = keys.get(random.nextInt(keys.size()));
                    JsonNode v = o.get(k);
                    o.set(k, o.get(k2));
                    o.set(k2, v);
                }
            }
        } else if (c instanceof ArrayNode a) {
            int i = random.nextInt(a.size());
            switch (kind) {
                case 0 -> a.set(i, odd);
                case 1 -> a.remove(i);
                case 2 -> a.insert(i, a.get(i).deepCopy());
                default -> {
                    int j = random.nextInt(a.size());
                    JsonNode v = a.get(i);
                    a.set(i, a.get(j));
                    a.set(j, v);
                }
            }
        }
    }

    /** A JSON string literal's content of {@code bytes} bytes ("xxx...", with some multi-byte characters). */
    public static String hugeLine(int bytes) {
        StringBuilder s = new StringBuilder(bytes);
        String unit = "The quick brown fox \u00e9\u4e2d jumps. ";
        while (s.length() < bytes) {
            s.append(unit);
        }
        s.setLength(bytes);
        return s.toString();
    }
}
