package org.prefixshare.pack;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.ExampleTokenizer;
import org.prefixshare.data.HfTokenizer;
import org.prefixshare.data.PreferenceFormat;
import org.prefixshare.data.ReaderOptions;
import org.prefixshare.data.TestFiles;
import org.prefixshare.data.TokenizerConfig;
import org.prefixshare.data.TruncationConfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The acceptance run of {@code data stats} (real data, real Llama-2 tokenizer), as a test. */
class DatasetStatsTest {

    @Test
    void realDataWithLlama2() {
        try (HfTokenizer tok = HfTokenizer.load(TestFiles.llama2Tokenizer(),
                TokenizerConfig.load(TestFiles.llama2Config()))) {
            ExampleTokenizer et = new ExampleTokenizer(tok);
            DatasetStats warm = DatasetStats.compute(TestFiles.preferenceData(),
                    ReaderOptions.of(PreferenceFormat.ALPACA), et, new TruncationConfig(1024, 0, 4096),
                    PackConfig.defaults(4096, 8, 0).withWindowSize(0));
            DatasetStats s = DatasetStats.compute(TestFiles.preferenceData(),
                    ReaderOptions.of(PreferenceFormat.ALPACA), et, new TruncationConfig(1024, 0, 4096),
                    PackConfig.defaults(4096, 8, 0).withWindowSize(0));
            assertEquals(warm.toJsonMap().get("rows"), s.toJsonMap().get("rows"));
            assertEquals(1100, s.examples());
            assertTrue(s.roundtripOk(), s.problems().toString());
            assertTrue(s.packingEfficiency() >= 0.97, "efficiency " + s.packingEfficiency());
            assertTrue(s.tokenRatio() > 1.0);
            assertEquals(0L, s.boundaryMerges());
            assertTrue(s.dropped().isEmpty(), s.dropped().toString());
            System.out.println("data stats (warm JVM): " + s.toJsonMap());
        }
    }
}
