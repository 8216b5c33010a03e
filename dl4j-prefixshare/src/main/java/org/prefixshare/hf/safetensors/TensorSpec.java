package org.prefixshare.hf.safetensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor to be written: its name, the dtype it is stored in, and its shape.
 *
 * @param name  the tensor's name (not {@code __metadata__})
 * @param dtype the dtype it is stored in
 * @param shape the dimensions, row-major, none negative; empty for a rank-0 tensor
 */
public record TensorSpec(String name, SafetensorsDtype dtype, long[] shape) {

    public TensorSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        if (name.equals(Header.METADATA_KEY)) {
            throw new IllegalArgumentException("a tensor cannot be named " + Header.METADATA_KEY);
        }
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': negative dimension in shape "
                        + Arrays.toString(shape));
            }
        }
        Math.multiplyExact(Shapes.elements(shape), dtype.byteSize());
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

    /** The number of bytes stored: elements times the dtype's size. */
    public long byteLength() {
        return elements() * dtype.byteSize();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
