package org.prefixshare.hf.safetensors;

import org.nd4j.linalg.api.buffer.DataType;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The element types of the safetensors format, spelled as in the file header ({@code "dtype": "BF16"}).
 *
 * <p>Every byte-aligned type of Hugging Face's reference implementation is listed, so that a file holding, say, an
 * {@code F8_E4M3} tensor still opens and its other tensors can be read; only the types with an ND4J counterpart
 * ({@link #hasNd4jType()}) can be read into arrays. The sub-byte types {@code F4}, {@code F6_E2M3} and
 * {@code F6_E3M2} are not supported and a header naming them is refused.
 */
public enum SafetensorsDtype {
    F64(8, DataType.DOUBLE),
    F32(4, DataType.FLOAT),
    F16(2, DataType.HALF),
    BF16(2, DataType.BFLOAT16),
    I64(8, DataType.LONG),
    I32(4, DataType.INT),
    I16(2, DataType.SHORT),
    I8(1, DataType.BYTE),
    U64(8, DataType.UINT64),
    U32(4, DataType.UINT32),
    U16(2, DataType.UINT16),
    U8(1, DataType.UBYTE),
    BOOL(1, DataType.BOOL),
    F8_E4M3(1, null),
    F8_E5M2(1, null),
    F8_E8M0(1, null),
    F8_E4M3FNUZ(1, null),
    F8_E5M2FNUZ(1, null),
    C64(8, null);

    private final int byteSize;
    private final DataType nd4jType;

    SafetensorsDtype(int byteSize, DataType nd4jType) {
        this.byteSize = byteSize;
        this.nd4jType = nd4jType;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** Whether ND4J has an array type for this dtype. */
    public boolean hasNd4jType() {
        return nd4jType != null;
    }

    /**
     * The ND4J array type holding this dtype bit for bit.
     *
     * @throws IllegalArgumentException for the float8 and complex types, which ND4J lacks
     */
    public DataType nd4jType() {
        if (nd4jType == null) {
            throw new IllegalArgumentException("safetensors dtype " + this + " has no ND4J array type");
        }
        return nd4jType;
    }

    /** Whether this is one of the floating-point types converted into one another on read and write. */
    public boolean isConvertibleFloat() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /**
     * The safetensors dtype of an ND4J array type.
     *
     * @throws IllegalArgumentException for ND4J types the format has no name for (UTF8, COMPRESSED, UNKNOWN)
     */
    public static SafetensorsDtype of(DataType type) {
        for (SafetensorsDtype d : values()) {
            if (d.nd4jType == type) {
                return d;
            }
        }
        throw new IllegalArgumentException("ND4J type " + type + " has no safetensors dtype");
    }

    /**
     * The dtype named {@code name} in a header (case-sensitive, as in the format).
     *
     * @throws IllegalArgumentException naming the supported dtypes when {@code name} is not one of them
     */
    public static SafetensorsDtype parse(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "' (known: " + known() + ")");
    }

    static String known() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }
}
