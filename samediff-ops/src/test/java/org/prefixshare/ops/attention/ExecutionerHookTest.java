package org.prefixshare.ops.attention;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.exec.ExecutionerHook;
import org.prefixshare.ops.exec.PrefixShareOpExecutioner;

import java.lang.reflect.Field;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExecutionerHookTest {

    @Test
    void installIsIdempotent() {
        PrefixShareOps.init();
        OpExecutioner first = Nd4j.getExecutioner();
        ExecutionerHook.install();
        PrefixShareOps.init();
        assertInstanceOf(PrefixShareOpExecutioner.class, first);
        assertSame(first, Nd4j.getExecutioner());
    }

    @Test
    void withoutTheHookTheOpFailsWithAClearErrorInsteadOfCrashing() throws Exception {
        PrefixShareOps.init();
        Field field = Nd4j.class.getDeclaredField("OP_EXECUTIONER_INSTANCE");
        field.setAccessible(true);
        Object ours = field.get(null);
        field.set(null, new NativeOpExecutioner());
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> new PrefixShareAttention().opHash());
            assertTrue(e.getMessage().contains("PrefixShareOps.init()"), e.getMessage());
        } finally {
            field.set(null, ours);
        }
    }
}
