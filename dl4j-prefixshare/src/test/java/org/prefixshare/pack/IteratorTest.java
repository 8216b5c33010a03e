package org.prefixshare.pack;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.prefixshare.layers.DpoLabels;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RandomExamples;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.SequenceInfo;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IteratorTest {

    private static final List<TokenizedExample> EX = RandomExamples.generate(21, 400, 40, 30);

    private static PackConfig cfg() {
        return PackConfig.defaults(512, 3, 99).withWindowSize(128);
    }

    private static List<LayoutBatch> drain(PreferenceBatchIterator it) {
        List<LayoutBatch> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.nextLayout());
        }
        return out;
    }

    @Test
    void multiDataSetShapesAndContents() {
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(EX, cfg(), (id, r) -> id * 10.0 + r)) {
            MultiDataSet ds = it.next();
            LayoutBatch lb = it.lastLayout();
            int rows = lb.rows().size();
            assertEquals(4, ds.getFeatures().length);
            assertEquals(3, ds.getLabels().length);
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(new long[]{rows, 512}, ds.getFeatures(i).shape());
                assertEquals(DataType.FLOAT, ds.getFeatures(i).dataType());
            }
            assertArrayEquals(new long[]{rows, 512}, ds.getLabels(0).shape());
            assertArrayEquals(new long[]{rows, 512}, ds.getLabels(1).shape());
            int s = lb.sequences().size();
            assertArrayEquals(new long[]{s, 4}, ds.getLabels(2).shape());
            RowLayout r0 = lb.rows().get(0);
            for (int t = 0; t < 512; t += 37) {
                assertEquals(r0.token(t), ds.getFeatures(0).getInt(0, t));
                assertEquals(r0.position(t), ds.getFeatures(1).getInt(0, t));
                assertEquals(r0.node(t), ds.getFeatures(2).getInt(0, t));
                assertEquals(r0.subtreeEnd(t), ds.getFeatures(3).getInt(0, t));
                assertEquals(r0.label(t), ds.getLabels(0).getInt(0, t));
                assertEquals(r0.seq(t), ds.getLabels(1).getInt(0, t));
            }
            for (int i = 0; i < s; i++) {
                SequenceInfo si = lb.sequences().get(i);
                assertEquals(si.exampleId(), ds.getLabels(2).getDouble(i, 0));
                assertEquals(si.rank(), ds.getLabels(2).getDouble(i, 1));
                assertEquals(si.tokenCount(), ds.getLabels(2).getDouble(i, 2));
                assertEquals(si.exampleId() * 10.0 + si.rank(), ds.getLabels(2).getDouble(i, 3));
            }
            // every sequence of an example is in this batch
            Set<Long> ids = new HashSet<>();
            lb.sequences().forEach(q -> ids.add(q.exampleId()));
            for (long id : ids) {
                long n = lb.sequences().stream().filter(q -> q.exampleId() == id).count();
                assertEquals(EX.get((int) id).responseCount(), n);
            }
        }
    }

    @Test
    void refLogpIsNaNWithoutProvider() {
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(EX, cfg())) {
            MultiDataSet ds = it.next();
            assertTrue(Double.isNaN(ds.getLabels(2).getDouble(0, 3)));
        }
    }

    @Test
    void deterministicAndPrefetchDoesNotChangeBatches() {
        try (PreferenceBatchIterator a = new PreferenceBatchIterator(EX, cfg().withPrefetch(0));
             PreferenceBatchIterator b = new PreferenceBatchIterator(EX, cfg().withPrefetch(3))) {
            int n = 0;
            while (a.hasNext()) {
                MultiDataSet x = a.next();
                MultiDataSet y = b.next();
                assertEquals(a.lastLayout(), b.lastLayout());
                assertEquals(x.getFeatures(0), y.getFeatures(0));
                n++;
            }
            assertFalse(b.hasNext());
            assertEquals(a.batchesPerEpoch(), n);
        }
    }

    @Test
    void resetStartsAReshuffledEpochAndCoversAll() {
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(EX, cfg())) {
            List<LayoutBatch> e0 = drain(it);
            it.reset();
            List<LayoutBatch> e1 = drain(it);
            assertFalse(e0.get(0).equals(e1.get(0)), "epoch 1 is reshuffled");
            for (List<LayoutBatch> e : List.of(e0, e1)) {
                Set<Long> ids = new HashSet<>();
                e.forEach(b -> b.sequences().forEach(s -> ids.add(s.exampleId())));
                assertEquals(EX.size(), ids.size());
            }
            it.reset();
            it.reset(); // nothing consumed: stays at epoch 2's start
            assertEquals(2, it.state().epoch());
        }
    }

    @Test
    void restoredCursorContinuesIdentically() {
        try (PreferenceBatchIterator a = new PreferenceBatchIterator(EX, cfg())) {
            drain(a);
            a.reset();
            for (int i = 0; i < 3; i++) {
                a.next();
            }
            IteratorState saved = IteratorState.parse(a.state().encode());
            List<LayoutBatch> rest = drain(a);
            a.reset();
            List<LayoutBatch> next = drain(a);
            try (PreferenceBatchIterator b = new PreferenceBatchIterator(EX, cfg())) {
                b.restore(saved);
                assertEquals(rest, drain(b));
                b.reset();
                assertEquals(next, drain(b));
            }
            try (PreferenceBatchIterator c = new PreferenceBatchIterator(EX, cfg().withSeed(5))) {
                assertThrows(IllegalArgumentException.class, () -> c.restore(saved));
            }
        }
    }

    @Test
    void shardsAreDisjointAndCover() {
        int world = 3;
        Set<Long> seen = new HashSet<>();
        int batches = 0;
        for (int rank = 0; rank < world; rank++) {
            try (PreferenceBatchIterator it = new PreferenceBatchIterator(EX, cfg().withShard(rank, world))) {
                for (LayoutBatch b : drain(it)) {
                    batches++;
                    Set<Long> inBatch = new HashSet<>();
                    b.sequences().forEach(s -> inBatch.add(s.exampleId()));
                    for (long id : inBatch) {
                        assertTrue(seen.add(id), "example " + id + " in two shards");
                    }
                }
            }
        }
        assertEquals(EX.size(), seen.size());
        try (PreferenceBatchIterator all = new PreferenceBatchIterator(EX, cfg())) {
            assertEquals(all.batchesPerEpoch(), batches);
        }
    }

    @Test
    void preProcessorAndDataSetView() {
        AtomicInteger calls = new AtomicInteger();
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(EX, cfg().withPacking(false))) {
            it.setPreProcessor(ds -> calls.incrementAndGet());
            it.next();
            assertEquals(1, calls.get());
            it.reset();
            PreferenceDataSetIterator view = new PreferenceDataSetIterator(it, DataType.FLOAT);
            DataSet d = view.next();
            LayoutBatch lb = view.lastLayout();
            RowLayout r0 = lb.rows().get(0);
            // features [B,4,T]: token, position, node, subtreeEnd; every batch padded on to packLength
            int t = view.rowLength();
            assertEquals(cfg().packLength(), t);
            assertArrayEquals(new long[]{lb.rows().size(), 4, t}, d.getFeatures().shape());
            assertArrayEquals(new long[]{lb.rows().size(), DpoLabels.CHANNELS, t}, d.getLabels().shape());
            assertNull(d.getFeaturesMaskArray());
            assertNull(d.getLabelsMaskArray());
            for (int i = 0; i < r0.length(); i++) {
                assertEquals(r0.token(i), d.getFeatures().getInt(0, 0, i));
                assertEquals(r0.position(i), d.getFeatures().getInt(0, 1, i));
                assertEquals(r0.node(i), d.getFeatures().getInt(0, 2, i));
                assertEquals(r0.subtreeEnd(i), d.getFeatures().getInt(0, 3, i));
                assertEquals(r0.label(i), d.getLabels().getInt(0, DpoLabels.LABEL, i));
            }
            for (int i = r0.length(); i < t; i++) {   // padding: own nodes, no label
                assertEquals(-1, d.getLabels().getInt(0, DpoLabels.LABEL, i));
                assertEquals(d.getFeatures().getInt(0, 2, i), d.getFeatures().getInt(0, 3, i));
                assertTrue(d.getFeatures().getInt(0, 2, i) > d.getFeatures().getInt(0, 2, i - 1));
            }
            assertEquals(lb.sequences().size(), DpoLabels.numSequences(d.getLabels()));
            assertEquals(3, view.batch());
        }
    }

    @Test
    void pairedIteratorKeepsAnExampleInOneBatch() {
        try (PreferenceBatchIterator it = PreferenceBatchIterator.paired(EX, cfg().withPacking(false).withPrefetch(0),
                ReferenceLogps.NONE)) {
            Set<Long> seen = new HashSet<>();
            while (it.hasNext()) {
                MultiDataSet ds = it.next();
                LayoutBatch b = it.lastLayout();
                assertEquals(b.rows().size(), b.sequences().size(), "one sequence per row");
                assertEquals(b.rows().size(), ds.getFeatures(0).size(0));
                Set<Long> ids = new HashSet<>();
                b.sequences().forEach(s -> ids.add(s.exampleId()));
                for (long id : ids) {
                    assertTrue(seen.add(id), "example " + id + " split across batches");
                }
            }
            assertEquals(EX.size(), seen.size());
        }
    }
}
