package org.prefixshare.ops.attention;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.autodiff.validation.GradCheckUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The op inside SameDiff: autodiff through doDiff, gradient check, training with fit, save and load. */
class SameDiffIntegrationTest {

    @Test
    void nativeGraphEqualsReferenceGraphThroughAutodiff() {
        Random rnd = new Random(3);
        int[][][] rows = {RandomLayouts.row(rnd, 45, 4), RandomLayouts.row(rnd, 45, 4)};
        AttentionCase ac = AttentionCase.random(rnd, DataType.DOUBLE, rows, 4, 2, 16);
        INDArray[] nat = ac.graphResult(PrefixShareOps.Implementation.NATIVE);
        INDArray[] ref = ac.graphResult(PrefixShareOps.Implementation.REFERENCE);
        for (int i = 0; i < nat.length; i++) {
            assertTrue(Errors.maxRelative(nat[i], ref[i]) <= 1e-9, "output " + i);
        }
    }

    @Test
    void gradCheckPassesThroughTheOpInFloat64() {
        Random rnd = new Random(11);
        int t = 11;
        int[][] row = RandomLayouts.row(rnd, t, 2);
        SameDiff sd = SameDiff.create();
        Nd4j.getRandom().setSeed(5);
        SDVariable q = sd.var("q", Nd4j.randn(DataType.DOUBLE, 1, t, 2, 4));
        SDVariable k = sd.var("k", Nd4j.randn(DataType.DOUBLE, 1, t, 1, 4));
        SDVariable v = sd.var("v", Nd4j.randn(DataType.DOUBLE, 1, t, 1, 4));
        SDVariable node = sd.constant("node", Nd4j.createFromArray(new int[][]{row[0]}).castTo(DataType.DOUBLE));
        SDVariable end = sd.constant("end", Nd4j.createFromArray(new int[][]{row[1]}).castTo(DataType.DOUBLE));
        SDVariable out = PrefixShareOps.attention(sd, q, k, v, node, end, 0.5, PrefixShareOps.Implementation.NATIVE);
        SDVariable w = sd.constant("w", Nd4j.randn(DataType.DOUBLE, 1, t, 2, 4));
        SDVariable loss = out.mul(w).sum("loss");
        loss.markAsLoss();
        DataType defaultType = Nd4j.dataType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE); // GradCheckUtil insists
        try {
            assertTrue(GradCheckUtil.checkGradients(sd, java.util.Collections.emptyMap(), 1e-6, 1e-5, 1e-10, true, false), "GradCheckUtil through prefixshare_attention");
        } finally {
            Nd4j.setDefaultDataTypes(defaultType, defaultType);
        }
    }

    @Test
    void fitWithAdamLowersTheLossAndSaveLoadRoundTrips(@TempDir File dir) throws Exception {
        int t = 24;
        int e = 16;
        int h = 2;
        int d = 8;
        Random rnd = new Random(21);
        int[][] row = RandomLayouts.row(rnd, t, 3);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, t, e);
        SDVariable node = sd.placeHolder("node", DataType.FLOAT, -1, t);
        SDVariable end = sd.placeHolder("end", DataType.FLOAT, -1, t);
        SDVariable y = sd.placeHolder("y", DataType.FLOAT, -1, t, h * d);
        Nd4j.getRandom().setSeed(1);
        SDVariable wq = sd.var("wq", Nd4j.randn(DataType.FLOAT, e, h * d).muli(0.2));
        SDVariable wk = sd.var("wk", Nd4j.randn(DataType.FLOAT, e, d).muli(0.2));
        SDVariable wv = sd.var("wv", Nd4j.randn(DataType.FLOAT, e, d).muli(0.2));
        SDVariable x2 = x.reshape(-1, e);
        SDVariable q = sd.mmul(x2, wq).reshape(-1, t, h, d);
        SDVariable k = sd.mmul(x2, wk).reshape(-1, t, 1, d);
        SDVariable v = sd.mmul(x2, wv).reshape(-1, t, 1, d);
        SDVariable att = PrefixShareOps.attention(sd, q, k, v, node, end, 1 / Math.sqrt(d),
                PrefixShareOps.Implementation.NATIVE).reshape(-1, t, h * d);
        att.rename("att");
        SDVariable loss = sd.math().square(att.sub(y)).mean("loss");
        loss.markAsLoss();
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(2e-2)).dataSetFeatureMapping("x", "node", "end")
                .dataSetLabelMapping("y").build());

        INDArray xs = Nd4j.randn(DataType.FLOAT, 4, t, e);
        INDArray nodes = Nd4j.createFromArray(new int[][]{row[0], row[0], row[0], row[0]}).castTo(DataType.FLOAT);
        INDArray ends = Nd4j.createFromArray(new int[][]{row[1], row[1], row[1], row[1]}).castTo(DataType.FLOAT);
        INDArray ys = Nd4j.randn(DataType.FLOAT, 4, t, h * d).muli(0.5);
        MultiDataSet batch = new MultiDataSet(new INDArray[]{xs, nodes, ends}, new INDArray[]{ys});
        Map<String, INDArray> feed = new HashMap<>(Map.of("x", xs, "node", nodes, "end", ends, "y", ys));

        double first = sd.output(feed, "loss").get("loss").getDouble(0);
        for (int i = 0; i < 60; i++) {
            sd.fit(batch);
        }
        double last = sd.output(feed, "loss").get("loss").getDouble(0);
        assertTrue(last < 0.8 * first, "loss should fall: first " + first + ", last " + last);

        File file = new File(dir, "graph.sd");
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);
        INDArray before = sd.output(feed, "att").get("att");
        INDArray after = loaded.output(feed, "att").get("att");
        assertEquals(before, after, "loaded graph gives the same attention output");
        loaded.fit(batch); // gradients of the loaded graph clone the op again
        double afterFit = loaded.output(feed, "loss").get("loss").getDouble(0);
        assertTrue(Double.isFinite(afterFit));
    }
}
