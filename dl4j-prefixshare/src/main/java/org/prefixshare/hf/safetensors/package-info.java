/**
 * The safetensors format, Hugging Face's file of named tensors: validated reading of single files
 * ({@link org.prefixshare.hf.safetensors.SafetensorsFile}) and of sharded checkpoints
 * ({@link org.prefixshare.hf.safetensors.SafetensorsCheckpoint}), streaming writing
 * ({@link org.prefixshare.hf.safetensors.SafetensorsWriter}, {@link org.prefixshare.hf.safetensors.ShardedWriter}),
 * straight between the file and ND4J arrays' native memory in chunks.
 */
package org.prefixshare.hf.safetensors;
