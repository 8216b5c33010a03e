package org.prefixshare.hf.safetensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a safetensors file as its header describes it: a cheap view that reads nothing.
 *
 * @param name  the tensor's name (the header key)
 * @param dtype the element type
 * @param shape the dimensions, row-major; empty for a rank-0 tensor, a 0 for an empty tensor
 * @param begin the first byte, relative to the start of the data (after the 8-byte length and the header)
 * @param end   one past the last byte, relative to the start of the data
 */
public record TensorInfo(String name, SafetensorsDtype dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
    }

    /** The dimensions (a copy). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The number of elements: the product of the dimensions (1 for rank 0). */
    public long elements() {
        return Shapes.elements(shape);
    }

    /** The number of data bytes, {@code end - begin}. */
    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
