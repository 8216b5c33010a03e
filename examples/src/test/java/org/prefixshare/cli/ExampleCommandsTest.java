package org.prefixshare.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DL4J examples end to end, small: standard DPO through a graph, a MultiLayerNetwork and Spark local[2]. */
class ExampleCommandsTest {

    private static void assertTrained(CliRun r, String command) throws Exception {
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.lastJson();
        assertEquals(command, j.get("command").asText());
        assertEquals("sigmoid", j.get("loss_type").asText());
        assertEquals("precomputed", j.get("reference").asText());
        assertEquals(Math.log(2), j.get("first_loss").asDouble(), 1e-5, "at the reference the loss is log 2");
        assertTrue(j.get("last_loss").asDouble() < j.get("first_loss").asDouble(), j.toString());
        assertTrue(j.get("restored_matches").asBoolean(), j.toString());
        assertTrue(j.get("metrics").has("rewards/accuracies"), j.toString());
    }

    @Test
    void dl4jGraphTrainsStandardDpoWithReferencesByTheGraph() throws Exception {
        assertTrained(CliRun.of("example", "dl4j-graph", "--loss", "sigmoid", "--steps", "8", "--examples", "24",
                "--json"), "example dl4j-graph");
    }

    @Test
    void dl4jNetworkTrainsThroughADataSetIterator() throws Exception {
        assertTrained(CliRun.of("example", "dl4j-network", "--steps", "8", "--examples", "24", "--json"),
                "example dl4j-network");
    }

    @Test
    void sparkTrainsOnLocal2() throws Exception {
        CliRun r = CliRun.of("example", "spark", "--workers", "2", "--epochs", "1", "--examples", "24",
                "--averaging-frequency", "1", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.lastJson();
        assertEquals(2, j.get("workers").asInt());
        assertEquals(Math.log(2), j.get("first_loss").asDouble(), 1e-5, j.toString());
        assertTrue(j.get("last_loss").asDouble() < j.get("first_loss").asDouble(), j.toString());
        double acc = j.get("eval_rewards_accuracy").asDouble();
        assertTrue(acc >= 0 && acc <= 1, j.toString());
        assertTrue(r.out().contains("round 1: loss "), r.out());
    }
}
