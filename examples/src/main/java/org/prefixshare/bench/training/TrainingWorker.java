package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Entry point of the child JVM that measures one mode, so that its peak RSS (VmHWM, a process-lifetime figure) and
 * off-heap peak belong to that mode alone. Not a user command: {@link TrainingBenchmark} starts it with the parent's
 * java, JVM options and class path, one request file as argument; the last stdout line is the {@link ModeResult}
 * as JSON.
 */
public final class TrainingWorker {

    /**
     * What the parent asks for.
     *
     * @param workload    workload file ({@link WorkloadFile})
     * @param warmup      untimed steps
     * @param mode        "a" .. "e"
     * @param modelConfig the model as Hugging Face config.json text (float32)
     * @param packLength  row length of packed modes
     * @param seed        model seed
     */
    public record Request(String workload, int warmup, String mode, String modelConfig, int packLength, long seed) {
    }

    private TrainingWorker() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: TrainingWorker REQUEST.json (started by prefixshare bench training)");
            System.exit(2);
        }
        ObjectMapper om = new ObjectMapper();
        Request r = om.readValue(Files.readString(Path.of(args[0])), Request.class);
        DecoderConfig config = DecoderConfig.fromHfJson(r.modelConfig(), DataType.FLOAT);
        ModeResult res = ModeRunner.run(WorkloadFile.read(Path.of(r.workload())), r.warmup(),
                TrainingMode.of(r.mode()), config, r.packLength(), r.seed(), System.err::println);
        System.out.println();
        System.out.println(om.writeValueAsString(res.isolatedRun()));
        System.out.flush();
        System.exit(0);
    }

    /** The request as JSON text. */
    static String toJson(Request r) throws Exception {
        return new ObjectMapper().writeValueAsString(r);
    }

    /** Parses a worker's stdout: the last non-empty line. */
    static ModeResult parseResult(List<String> stdout) throws Exception {
        for (int i = stdout.size() - 1; i >= 0; i--) {
            String line = stdout.get(i).trim();
            if (line.startsWith("{")) {
                return new ObjectMapper().readValue(line, ModeResult.class);
            }
        }
        throw new IllegalStateException("the worker printed no result line");
    }
}
