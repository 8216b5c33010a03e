package org.prefixshare.data;

import java.util.Arrays;

/**
 * The pieces of words already merged, keyed by the word's chars: an open-addressing table looked up straight from a
 * char range (no String made per lookup). Not thread-safe: one per thread. Holds at most {@code limit} words; once
 * full it stops adding (like Hugging Face's BPE cache).
 */
final class WordCache {

    private final int limit;
    private char[][] keys = new char[1 << 14][];
    private int[] hashes = new int[1 << 14];
    private BpeModel.Pieces[] values = new BpeModel.Pieces[1 << 14];
    private int size;

    WordCache(int limit) {
        this.limit = limit;
    }

    /** The pieces of {@code text[from, to)} whose {@link #hash} is {@code hash}, or null. */
    BpeModel.Pieces get(char[] text, int from, int to, int hash) {
        int mask = keys.length - 1;
        for (int i = mix(hash) & mask; keys[i] != null; i = (i + 1) & mask) {
            if (hashes[i] == hash && Arrays.equals(keys[i], 0, keys[i].length, text, from, to)) {
                return values[i];
            }
        }
        return null;
    }

    /** Remembers the pieces of {@code text[from, to)} (not already present). */
    void put(char[] text, int from, int to, int hash, BpeModel.Pieces pieces) {
        if (size >= limit) {
            return;
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        insert(Arrays.copyOfRange(text, from, to), hash, pieces);
        size++;
    }

    /** The hash of one char appended to the hash of the chars before it (start from 0). */
    static int hash(int h, char c) {
        return 31 * h + c;
    }

    private static int mix(int h) {
        return h ^ (h >>> 15) ^ (h >>> 7);
    }

    private void insert(char[] key, int hash, BpeModel.Pieces pieces) {
        int mask = keys.length - 1;
        int i = mix(hash) & mask;
        while (keys[i] != null) {
            i = (i + 1) & mask;
        }
        keys[i] = key;
        hashes[i] = hash;
        values[i] = pieces;
    }

    private void grow() {
        char[][] oldKeys = keys;
        int[] oldHashes = hashes;
        BpeModel.Pieces[] oldValues = values;
        keys = new char[oldKeys.length * 2][];
        hashes = new int[oldKeys.length * 2];
        values = new BpeModel.Pieces[oldKeys.length * 2];
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != null) {
                insert(oldKeys[i], oldHashes[i], oldValues[i]);
            }
        }
    }
}
