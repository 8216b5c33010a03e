package org.prefixshare.hf;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A randomly initialised Hugging Face model directory (what transformers' {@code from_config} then
 * {@code save_pretrained} gives): HF's initialisation ({@link WeightSource#random}, std 0.02, norms 1, biases 0),
 * each tensor generated in the saved dtype and written before the next is made, so a 7B model in bfloat16 needs
 * about one tensor's memory (Mistral-7B's largest, the embedding, is 262 MB), not 14.5 GB.
 */
public final class ModelInit {

    private ModelInit() {
    }

    /**
     * Writes the model to {@code out} (which must not exist).
     *
     * @param config        architecture (its decoder's vocabulary and layer count as wanted)
     * @param seed          weights seed
     * @param writer        dtype on disk and shard size
     * @param tokenizerFrom a directory whose tokenizer files are copied (may be null)
     * @param progress      told the name of each tensor as it is written (may be null)
     */
    public static Path write(HfConfig config, long seed, HfModelWriter writer, Path out, Path tokenizerFrom,
                             Consumer<String> progress) {
        WeightSource random = WeightSource.random(seed, DecoderModel.INIT_STD);
        DataType storage = writer.dtype().nd4jType();
        var shapes = config.decoder().parameterShapes();
        // The writer asks for a tensor only after it has written the one before, so each generated tensor is freed
        // when the next is asked for (ND4J frees native memory at once on close; left to the GC, a 7B model's
        // tensors piled up to 7 GB of RSS before collections caught up).
        INDArray[] previous = new INDArray[1];
        try {
            return writer.write(out, config, shapes, name -> {
                if (previous[0] != null) {
                    previous[0].close();
                }
                if (progress != null) {
                    progress.accept(name);
                }
                previous[0] = random.load(name, shapes.get(name), storage);
                return previous[0];
            }, tokenizerFrom, false);
        } finally {
            if (previous[0] != null) {
                previous[0].close();
            }
        }
    }
}
