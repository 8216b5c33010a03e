"""torchref: an independent PyTorch reference of Hugging Face Llama / Mistral / Qwen2 causal LMs, safetensors I/O,
PEFT LoRA and TRL's DPO log-probs, used as the oracle of prefixshare's Java implementation. See README.md."""
