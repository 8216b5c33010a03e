package org.prefixshare.hf.safetensors;

/** Shape arithmetic shared by the header, the reader and the writer. */
final class Shapes {

    private Shapes() {
    }

    /**
     * The product of the dimensions, 1 for rank 0.
     *
     * @throws ArithmeticException when the product overflows 64 bits
     */
    static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }
}
