package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Entry point of the child JVM that measures one mode, so that its peak RSS (VmHWM, a process-lifetime figure) and
 * off-heap peak belong to that mode alone. Not a user command: {@link WorkerProcess} starts it with the parent's
 * java, JVM options and class path and one request file as argument. Protocol (stdout lines tagged, since SameDiff
 * prints on stdout too): after warm-up it prints {@link #READY}; each {@code STEP t} line on stdin runs timed step t
 * and answers {@code TOOK ms}; {@code DONE} answers {@code RESULT json} ({@link ModeResult}) and exits.
 */
public final class TrainingWorker {

    static final String READY = "PSW READY";
    static final String TOOK = "PSW TOOK";
    static final String RESULT = "PSW RESULT";
    static final String STEP = "STEP";
    static final String DONE = "DONE";

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
        ModeRunner runner = ModeRunner.prepare(WorkloadFile.read(Path.of(r.workload())), r.warmup(),
                TrainingMode.of(r.mode()), config, r.packLength(), r.seed(), System.err::println);
        System.out.println();
        System.out.println(READY);
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.startsWith(STEP + " ")) {
                double ms = runner.timedStep(Integer.parseInt(line.substring(STEP.length() + 1).trim()));
                System.out.println();
                System.out.println(TOOK + " " + ms);
                System.out.flush();
            } else if (line.equals(DONE)) {
                System.out.println();
                System.out.println(RESULT + " " + om.writeValueAsString(runner.result().isolatedRun()));
                System.out.flush();
                runner.close();
                System.exit(0);
            }
        }
        System.exit(3);  // the parent went away
    }

    /** The request as JSON text. */
    static String toJson(Request r) throws Exception {
        return new ObjectMapper().writeValueAsString(r);
    }

    /** Parses a worker's result: the last line that is a JSON object. */
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
