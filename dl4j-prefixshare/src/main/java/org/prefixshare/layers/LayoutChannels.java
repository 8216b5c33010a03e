package org.prefixshare.layers;

import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The single-input form of a packed prefix-shared batch, for networks with one input ({@code MultiLayerNetwork}):
 * the four row-layout arrays {@code token, position, node, subtreeEnd} ([B,T] each) as the channels of one
 * {@code [B, 4, T]} features array. Inside such a network the layout travels with the hidden states as
 * {@value #LAYOUT} trailing channels ({@code [B, H + 3, T]}: hidden, then position, node, subtreeEnd), so that every
 * layer of a sequential network can read it: {@link PrefixSharedEmbedding} makes that form, {@link DecoderBlockLayer}
 * keeps it, {@link DpoOutputLayer} with {@code layoutChannels(3)} drops it.
 */
public final class LayoutChannels {

    /** Channel of the token ids in the features. */
    public static final int TOKEN = 0;
    /** Channel of the RoPE positions. */
    public static final int POSITION = 1;
    /** Channel of the pre-order node index. */
    public static final int NODE = 2;
    /** Channel of the subtree end. */
    public static final int SUBTREE_END = 3;
    /** Channels of the features array. */
    public static final int FEATURES = 4;
    /** Layout channels (position, node, subtreeEnd) carried behind the hidden states. */
    public static final int LAYOUT = 3;

    private LayoutChannels() {
    }

    /** Stacks {@code token, position, node, subtreeEnd} ([B,T] each) into the features array [B,4,T] of type dt. */
    public static INDArray stack(INDArray[] graphFeatures, DataType dt) {
        if (graphFeatures.length != FEATURES) {
            throw new IllegalArgumentException("expected the 4 layout arrays token, position, node, subtreeEnd, got "
                    + graphFeatures.length);
        }
        long[] shape = graphFeatures[0].shape();
        if (shape.length != 2) {
            throw new IllegalArgumentException("layout arrays must be [B,T], got " + Arrays.toString(shape));
        }
        INDArray out = Nd4j.create(dt, shape[0], FEATURES, shape[1]);
        for (int c = 0; c < FEATURES; c++) {
            if (!Arrays.equals(shape, graphFeatures[c].shape())) {
                throw new IllegalArgumentException("layout array " + c + " has shape "
                        + Arrays.toString(graphFeatures[c].shape()) + ", the token array " + Arrays.toString(shape));
            }
            out.slice(c, 1).assign(graphFeatures[c].castTo(dt));
        }
        return out;
    }

    /** The inverse of {@link #stack}: four [B,T] arrays (copies) of the features' type. */
    public static INDArray[] unstack(INDArray features) {
        check(features);
        INDArray[] out = new INDArray[FEATURES];
        for (int c = 0; c < FEATURES; c++) {
            out[c] = features.slice(c, 1).dup('c');
        }
        return out;
    }

    static void check(INDArray features) {
        if (features.rank() != 3 || features.size(1) != FEATURES) {
            throw new IllegalArgumentException("features must be [B, 4, T] (token, position, node, subtreeEnd; see "
                    + "LayoutChannels), got " + Arrays.toString(features.shape()));
        }
    }

    /** Channel c of x [B,C,T] inside a graph: [B,T]. */
    static SDVariable channel(SDVariable x, int c) {
        return x.get(SDIndex.all(), SDIndex.point(c), SDIndex.all());
    }

    /** Channels [from, to) of x [B,C,T] inside a graph: [B,to-from,T]. */
    static SDVariable channels(SDVariable x, int from, int to) {
        return x.get(SDIndex.all(), SDIndex.interval(from, to), SDIndex.all());
    }

    /** Hidden states [B,H,T] followed by the layout channels [B,3,T]: [B,H+3,T]. */
    static SDVariable withLayout(SameDiff sd, SDVariable hidden, SDVariable layout) {
        return sd.concat(1, hidden, layout);
    }
}
