package org.prefixshare.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.bench.training.TorchPeer;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code bench peers}' refusals (its measurements: PeersBenchmarkTest, PeersAgainstTorchTest). */
class BenchPeersCommandTest {

    @Test
    void withoutPyTorchItSaysHowToInstallItAndExits2() {
        CliRun r = CliRun.of("bench", "peers", "--quick", "--python", "/nonexistent/python3");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("cannot import torch")
                && r.err().contains("apt-get install -y python3-torch libopenblas0-pthread"), r.err());
    }

    @Test
    void aTorchrefWithoutTheScriptIsRefusedByName(@TempDir Path dir) {
        assumeTrue(TorchPeer.torchAvailable(TorchPeer.PYTHON), "python3-torch is not installed");
        CliRun r = CliRun.of("bench", "peers", "--quick", "--torchref", dir.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(dir.toString()) && r.err().contains("bench_step.py"), r.err());
    }

    @Test
    void theTorchrefIsFoundAboveTheBuild() {
        assertTrue(BenchPeersCommand.findTorchref().resolve(TorchPeer.SCRIPT).toFile().isFile());
    }
}
