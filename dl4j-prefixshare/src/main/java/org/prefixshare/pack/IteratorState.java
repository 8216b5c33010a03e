package org.prefixshare.pack;

/**
 * The resumable cursor of a batch iterator: restoring it into an iterator over the same examples and configuration
 * continues with exactly the batches the saved iterator would have produced next.
 *
 * @param seed      the configuration's seed (checked on restore)
 * @param rank      the shard (checked on restore)
 * @param worldSize the number of shards (checked on restore)
 * @param epoch     the epoch
 * @param batch     the next batch of the epoch (this shard's numbering)
 * @param started   whether anything was consumed since the epoch began (a reset then moves to the next epoch)
 */
public record IteratorState(long seed, int rank, int worldSize, int epoch, int batch, boolean started) {

    /** A one-line text form ({@code seed=..,rank=..,worldSize=..,epoch=..,batch=..,started=..}). */
    public String encode() {
        return "seed=" + seed + ",rank=" + rank + ",worldSize=" + worldSize + ",epoch=" + epoch + ",batch=" + batch
                + ",started=" + started;
    }

    /** Parses {@link #encode()}'s form. */
    public static IteratorState parse(String s) {
        long seed = 0;
        int rank = 0;
        int world = 1;
        int epoch = 0;
        int batch = 0;
        boolean started = false;
        for (String kv : s.trim().split(",")) {
            String[] p = kv.split("=", 2);
            if (p.length != 2) {
                throw new IllegalArgumentException("bad iterator state '" + s + "': expected key=value pairs");
            }
            switch (p[0].trim()) {
                case "seed" -> seed = Long.parseLong(p[1].trim());
                case "rank" -> rank = Integer.parseInt(p[1].trim());
                case "worldSize" -> world = Integer.parseInt(p[1].trim());
                case "epoch" -> epoch = Integer.parseInt(p[1].trim());
                case "batch" -> batch = Integer.parseInt(p[1].trim());
                case "started" -> started = Boolean.parseBoolean(p[1].trim());
                default -> throw new IllegalArgumentException("bad iterator state '" + s + "': unknown key " + p[0]);
            }
        }
        return new IteratorState(seed, rank, world, epoch, batch, started);
    }
}
