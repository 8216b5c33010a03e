package org.prefixshare.hf.safetensors;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The float conversions against references written from the definition: the nearest representable value by
 * distance, ties to the even pattern, NaN as PyTorch gives it.
 */
class DtypeConverterTest {

    // ---- references ----

    /** The value of a non-negative bfloat16 pattern; 0x7F80 (infinity) counts as 2^128, the next step up. */
    private static double bf16Value(int pattern) {
        return pattern == 0x7f80 ? Math.scalb(1.0, 128) : Float.intBitsToFloat(pattern << 16);
    }

    private static short referenceBf16(float f) {
        if (Float.isNaN(f)) {
            return 0x7fc0;
        }
        int sign = (Float.floatToRawIntBits(f) >>> 16) & 0x8000;
        float a = Math.abs(f);
        if (Float.isInfinite(a)) {
            return (short) (sign | 0x7f80);
        }
        int lo = Float.floatToRawIntBits(a) >>> 16; // bfloat16 patterns are ordered like their values
        double below = a - bf16Value(lo);
        double above = bf16Value(lo + 1) - a;
        int r = below < above ? lo : above < below ? lo + 1 : (lo & 1) == 0 ? lo : lo + 1;
        return (short) (sign | r);
    }

    /** All non-negative finite binary16 values, from the definition, plus 65536 standing for infinity. */
    private static final double[] HALVES = new double[0x7c01];

    static {
        for (int h = 0; h <= 0x7c00; h++) {
            HALVES[h] = halfValue(h);
        }
    }

    private static double halfValue(int h) {
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        if (e == 0x1f) {
            return m == 0 ? Math.scalb(1.0, 16) : Double.NaN;
        }
        return e == 0 ? Math.scalb((double) m, -24) : Math.scalb((double) (1024 + m), e - 25);
    }

    private static short referenceF16(float f) {
        int sign = (Float.floatToRawIntBits(f) >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7e00);
        }
        double a = Math.abs((double) f);
        if (a >= 65536) {
            return (short) (sign | 0x7c00);
        }
        int i = Arrays.binarySearch(HALVES, a);
        if (i >= 0) {
            return (short) (sign | i);
        }
        int hi = -i - 1;
        int lo = hi - 1;
        double below = a - HALVES[lo];
        double above = HALVES[hi] - a;
        int r = below < above ? lo : above < below ? hi : (lo & 1) == 0 ? lo : hi;
        return (short) (sign | r);
    }

    // ---- sample floats: edge cases, a sweep of every bit-pattern region, random ----

    private static List<Float> samples() {
        List<Float> s = new ArrayList<>();
        float[] edges = {0f, -0f, 1f, -1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
            -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
            Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc00001), Float.intBitsToFloat(0x7fffffff),
            1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 1f + 0x1p-8f + 0x1p-23f, 1f + 0x1p-11f, 1f + 3 * 0x1p-11f,
            65504f, 65519f, 65519.996f, 65520f, 65536f, 0x1p-14f, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f,
            0x1.8p-23f, 0x1.4p-24f, 0x1.ffcp-15f, 0x1.ffep-15f, 3.3895314e38f, 3.3961776e38f};
        for (float e : edges) {
            s.add(e);
        }
        for (long bits = 0; bits <= 0xffffffffL; bits += 7919) {
            s.add(Float.intBitsToFloat((int) bits));
        }
        Random r = new Random(24);
        for (int i = 0; i < 200_000; i++) {
            s.add(Float.intBitsToFloat(r.nextInt()));
            s.add((float) r.nextGaussian() * 1e-4f);
        }
        return s;
    }

    // ---- bfloat16 ----

    @Test
    void floatToBf16RoundsToNearestEvenLikeTorch() {
        assertEquals(0x3f80, DtypeConverter.floatToBf16(1f) & 0xffff);
        assertEquals(0x3f80, DtypeConverter.floatToBf16(1f + 0x1p-8f) & 0xffff, "tie goes down to the even 0x3F80");
        assertEquals(0x3f82, DtypeConverter.floatToBf16(1f + 3 * 0x1p-8f) & 0xffff, "tie goes up to the even 0x3F82");
        assertEquals(0x3f81, DtypeConverter.floatToBf16(1f + 0x1p-8f + 0x1p-23f) & 0xffff, "above the tie");
        assertEquals(0x7f80, DtypeConverter.floatToBf16(Float.MAX_VALUE) & 0xffff, "overflows to infinity");
        assertEquals(0x8000, DtypeConverter.floatToBf16(-0f) & 0xffff);
        assertEquals(0xff80, DtypeConverter.floatToBf16(Float.NEGATIVE_INFINITY) & 0xffff);
        assertEquals(0x7fc0, DtypeConverter.floatToBf16(Float.intBitsToFloat(0xffc00001)) & 0xffff, "c10's NaN");
        assertEquals(0x0000, DtypeConverter.floatToBf16(Float.MIN_VALUE) & 0xffff, "tiny subnormal to zero");
        assertEquals(0x0000, DtypeConverter.floatToBf16(Float.intBitsToFloat(0x00008000)) & 0xffff,
                "subnormal tie stays on the even 0");
        assertEquals(0x0002, DtypeConverter.floatToBf16(Float.intBitsToFloat(0x00018000)) & 0xffff,
                "subnormal tie goes up from the odd 1 to the even 2");
        for (float f : samples()) {
            short got = DtypeConverter.floatToBf16(f);
            short want = referenceBf16(f);
            if (got != want) {
                fail(String.format("bf16(%s = 0x%08x): got 0x%04x, want 0x%04x", f, Float.floatToRawIntBits(f),
                        got & 0xffff, want & 0xffff));
            }
        }
    }

    @Test
    void bf16ToFloatIsExactAndRoundTrips() {
        for (int h = 0; h <= 0xffff; h++) {
            float f = DtypeConverter.bf16ToFloat((short) h);
            boolean nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
            assertEquals(nan, Float.isNaN(f), "NaN-ness of 0x" + Integer.toHexString(h));
            if (!nan) {
                assertEquals(h, DtypeConverter.floatToBf16(f) & 0xffff, "round trip of 0x" + Integer.toHexString(h));
                if (!Float.isInfinite(f)) {
                    int e = (h >>> 7) & 0xff;
                    int m = h & 0x7f;
                    double v = e == 0 ? Math.scalb((double) m, -133) : Math.scalb((double) (128 + m), e - 134);
                    assertEquals((h & 0x8000) != 0 ? -v : v, f, 0.0, "value of 0x" + Integer.toHexString(h));
                }
            }
        }
    }

    // ---- binary16 ----

    @Test
    void f16ToFloatMatchesTheDefinitionForAllPatterns() {
        for (int h = 0; h <= 0xffff; h++) {
            float f = DtypeConverter.f16ToFloat((short) h);
            double v = halfValue(h & 0x7fff);
            int e = (h >>> 10) & 0x1f;
            if (e == 0x1f) {
                assertEquals((h & 0x3ff) != 0, Float.isNaN(f), "0x" + Integer.toHexString(h));
                if ((h & 0x3ff) == 0) {
                    assertEquals((h & 0x8000) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY, f);
                }
            } else {
                assertEquals((h & 0x8000) != 0 ? -v : v, f, 0.0, "0x" + Integer.toHexString(h));
                assertEquals(h, DtypeConverter.floatToF16(f) & 0xffff, "round trip of 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void floatToF16RoundsToNearestEven() {
        assertEquals(0x7bff, DtypeConverter.floatToF16(65504f) & 0xffff);
        assertEquals(0x7bff, DtypeConverter.floatToF16(65519.996f) & 0xffff);
        assertEquals(0x7c00, DtypeConverter.floatToF16(65520f) & 0xffff, "the tie above the largest goes to inf");
        assertEquals(0x0000, DtypeConverter.floatToF16(0x1p-25f) & 0xffff, "half the smallest subnormal ties to 0");
        assertEquals(0x0001, DtypeConverter.floatToF16(0x1.000002p-25f) & 0xffff);
        assertEquals(0x0002, DtypeConverter.floatToF16(0x1.8p-24f) & 0xffff, "1.5 units ties to even 2");
        assertEquals(0x0400, DtypeConverter.floatToF16(0x1.ffep-15f) & 0xffff, "carries into the smallest normal");
        assertEquals(0xfe00, DtypeConverter.floatToF16(Float.intBitsToFloat(0xffc00001)) & 0xffff, "c10's NaN");
        for (float f : samples()) {
            short got = DtypeConverter.floatToF16(f);
            short want = referenceF16(f);
            if (got != want) {
                fail(String.format("f16(%s = 0x%08x): got 0x%04x, want 0x%04x", f, Float.floatToRawIntBits(f),
                        got & 0xffff, want & 0xffff));
            }
        }
    }

    // ---- the bulk entry point ----

    @Test
    void bulkConversionsAgreeWithTheScalarOnes() {
        List<Float> s = samples().subList(0, 50_000);
        int n = s.size();
        ByteBuffer f32 = buffer(n * 4);
        ByteBuffer f64 = buffer(n * 8);
        for (int i = 0; i < n; i++) {
            f32.putFloat(i * 4, s.get(i));
            f64.putDouble(i * 8, s.get(i) * (1 + 0x1p-30)); // not exactly a float: exercises F64 narrowing
        }
        ByteBuffer bf = buffer(n * 2);
        ByteBuffer h = buffer(n * 2);
        ByteBuffer back = buffer(n * 4);
        ByteBuffer wide = buffer(n * 8);
        DtypeConverter.convert(f32, SafetensorsDtype.F32, bf, SafetensorsDtype.BF16, n);
        DtypeConverter.convert(f32, SafetensorsDtype.F32, h, SafetensorsDtype.F16, n);
        for (int i = 0; i < n; i++) {
            assertEquals(DtypeConverter.floatToBf16(s.get(i)), bf.getShort(i * 2));
            assertEquals(DtypeConverter.floatToF16(s.get(i)), h.getShort(i * 2));
        }
        DtypeConverter.convert(bf, SafetensorsDtype.BF16, back, SafetensorsDtype.F32, n);
        DtypeConverter.convert(bf, SafetensorsDtype.BF16, wide, SafetensorsDtype.F64, n);
        for (int i = 0; i < n; i++) {
            float want = DtypeConverter.bf16ToFloat(bf.getShort(i * 2));
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(back.getFloat(i * 4)));
            assertEquals(Double.doubleToLongBits(want), Double.doubleToLongBits(wide.getDouble(i * 8)));
        }
        DtypeConverter.convert(f64, SafetensorsDtype.F64, back, SafetensorsDtype.F32, n);
        DtypeConverter.convert(f64, SafetensorsDtype.F64, bf, SafetensorsDtype.BF16, n);
        DtypeConverter.convert(f64, SafetensorsDtype.F64, h, SafetensorsDtype.F16, n);
        for (int i = 0; i < n; i++) {
            float narrowed = (float) f64.getDouble(i * 8);
            assertEquals(Float.floatToIntBits(narrowed), Float.floatToIntBits(back.getFloat(i * 4)));
            assertEquals(DtypeConverter.floatToBf16(narrowed), bf.getShort(i * 2), "F64 to BF16 goes through F32");
            assertEquals(DtypeConverter.floatToF16(narrowed), h.getShort(i * 2), "F64 to F16 goes through F32");
        }
        DtypeConverter.convert(h, SafetensorsDtype.F16, bf, SafetensorsDtype.BF16, n);
        for (int i = 0; i < n; i++) {
            short want = DtypeConverter.floatToBf16(DtypeConverter.f16ToFloat(h.getShort(i * 2)));
            assertEquals(want, bf.getShort(i * 2));
        }
        assertTrue(f32.position() == 0 && bf.position() == 0, "positions are left alone");
    }

    private static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }
}
