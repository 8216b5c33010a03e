package org.prefixshare.spark;

import org.apache.spark.SparkConf;

/** The Spark configuration of a single-machine run ({@code local[N]}), as the example and the tests use it. */
public final class LocalSpark {

    private LocalSpark() {
    }

    /** {@code local[workers]}, no web UI or console progress bar, bound to the loopback interface. */
    public static SparkConf conf(int workers, String appName) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be >= 1, got " + workers);
        }
        return new SparkConf()
                .setMaster("local[" + workers + "]")
                .setAppName(appName)
                .set("spark.ui.enabled", "false")
                .set("spark.ui.showConsoleProgress", "false")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1");
    }
}
