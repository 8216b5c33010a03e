package org.prefixshare.ops.exec;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.memory.NoOpMemoryMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.fused.FusedOps;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Which arrays an op execution hands back as read for the last time. Each case's arrays have their own row count,
 * so the recycled rows name the cases: an op's output read only by one of our ops goes back; a placeholder, an array
 * that an ND4J op also reads, one made by a pass-through op (identity) or one read by an ND4J op that made another
 * input do not.
 */
class LastReadsTest {

    /** SameDiff's plain allocator that records the row count of every array handed back early. */
    private static final class RecordingRecycler extends NoOpMemoryMgr implements ArrayRecycler {
        final List<Long> recycledRows = new ArrayList<>();

        @Override
        public void recycle(INDArray array) {
            recycledRows.add(array.size(0));
        }
    }

    private static final int H = 8;

    @Test
    void onlyArraysNoOtherOpCanStillReadGoBack() {
        SameDiff sd = SameDiff.create();
        SDVariable w = sd.var("w", Nd4j.rand(DataType.DOUBLE, H));
        Map<String, INDArray> feeds = new HashMap<>();
        List<String> outputs = new ArrayList<>();
        // 2: made by our op, read by our op alone -> back
        SDVariable a = FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 2), w, 1e-6);
        outputs.add(FusedOps.fusedSwiGlu(sd, a, input(sd, feeds, "u", 2)).name());
        // 3: read by our op and by an ND4J op -> kept
        SDVariable c = FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 3), w, 1e-6);
        outputs.add(FusedOps.fusedSwiGlu(sd, c, input(sd, feeds, "u", 3)).name());
        outputs.add(sd.math().abs(c).name());
        // 4: made by identity (possibly another variable's array) -> kept
        SDVariable d = sd.identity(FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 4), w, 1e-6));
        outputs.add(FusedOps.fusedSwiGlu(sd, d, input(sd, feeds, "u", 4)).name());
        // 5: also an output of the execution -> handed back all the same: keeping outputs is the recycler's rule
        SDVariable e = FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 5), w, 1e-6);
        outputs.add(e.name());
        outputs.add(FusedOps.fusedSwiGlu(sd, e, input(sd, feeds, "u", 5)).name());
        // 6: f read by our op that made g, then by the op reading g: both back once that op has run
        SDVariable f = FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 6), w, 1e-6);
        SDVariable g = FusedOps.fusedRmsNorm(sd, f, w, 1e-6);
        outputs.add(FusedOps.fusedSwiGlu(sd, f, g).name());
        // 7: the same with an ND4J op making g (it might pass f through) -> f kept; g, made by ND4J, kept
        SDVariable f7 = FusedOps.fusedRmsNorm(sd, input(sd, feeds, "x", 7), w, 1e-6);
        outputs.add(FusedOps.fusedSwiGlu(sd, f7, sd.math().abs(f7)).name());

        RecordingRecycler recycler = new RecordingRecycler();
        sd.getSessions().computeIfAbsent(Thread.currentThread().getId(), t -> new InferenceSession(sd))
                .setMmgr(recycler);
        Map<String, INDArray> out = sd.output(feeds, outputs.toArray(new String[0]));
        assertEquals(outputs.size(), out.size());
        List<Long> rows = new ArrayList<>(recycler.recycledRows);
        rows.sort(null);
        assertEquals(List.of(2L, 5L, 6L, 6L), rows);
    }

    private static SDVariable input(SameDiff sd, Map<String, INDArray> feeds, String name, int rows) {
        String n = name + rows;
        feeds.put(n, Nd4j.rand(DataType.DOUBLE, rows, H));
        return sd.placeHolder(n, DataType.DOUBLE, rows, H);
    }
}
