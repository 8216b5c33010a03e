"""Sequence log-probs as TRL's DPOTrainer.concatenated_forward defines them, and the DPO sigmoid loss.

For one example the model sees `prompt_ids + response_ids` (the prompt with BOS when the tokenizer adds one, the
response with EOS when appended). Its log-prob is the sum over the response positions t = len(prompt) .. T-1 of
log_softmax(logits[t-1])[ids[t]]: the prompt tokens are never scored, the first response token is predicted from the
last prompt position. TRL sums in the logits' dtype (float32 here).
"""

import torch
import torch.nn.functional as F


def token_logps(logits, ids):
    """logits [T, V], ids [T] -> [T-1] log-probs of ids[1:] given the prefix (float, logits' dtype)."""
    return torch.gather(logits[:-1].log_softmax(-1), 1, ids[1:, None]).squeeze(1)


def sequence_logp(model, prompt_ids, response_ids):
    """Sum of the response tokens' log-probs under `model` (0-dim tensor in the model's dtype; differentiable)."""
    if len(prompt_ids) < 1:
        raise ValueError("the prompt must hold at least one token (the first token is never scored)")
    if len(response_ids) < 1:
        raise ValueError("the response must hold at least one token")
    ids = torch.tensor(list(prompt_ids) + list(response_ids), dtype=torch.long)
    logits = model(ids[None])[0]
    per_token = token_logps(logits, ids)
    return per_token[len(prompt_ids) - 1:].sum()


def batch_sequence_logps(model, prompts, responses, pad_id=0):
    """TRL's padded batch: right-pad every prompt+response to the longest, mask the padding keys, sum the response
    positions' log-probs. Returns [B]. Equal (up to rounding) to calling sequence_logp one by one."""
    return padded_logps(model, *pad_batch(prompts, responses, pad_id))


def pad_batch(prompts, responses, pad_id=0):
    """TRL's collated batch of prompt+response sequences, right-padded to the longest: ids [B, T] (long), the
    attention mask [B, T] (1 = real token) and the loss mask [B, T] (True on response tokens)."""
    seqs = [list(p) + list(r) for p, r in zip(prompts, responses)]
    t = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), t), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), t), dtype=torch.long)
    loss_mask = torch.zeros((len(seqs), t), dtype=torch.bool)
    for i, (s, p) in enumerate(zip(seqs, prompts)):
        ids[i, :len(s)] = torch.tensor(s)
        attn[i, :len(s)] = 1
        loss_mask[i, len(p):len(s)] = True
    return ids, attn, loss_mask


def padded_logps(model, ids, attn, loss_mask):
    """The log-probs [B] of a batch from pad_batch, as TRL's concatenated_forward computes them: logits of every
    position, log_softmax, the label tokens gathered, summed under the loss mask."""
    logits = model(ids, attention_mask=attn)
    labels = ids[:, 1:].clone()
    mask = loss_mask[:, 1:]
    labels[~mask] = 0
    per_token = torch.gather(logits[:, :-1].log_softmax(-1), 2, labels[:, :, None]).squeeze(2)
    return (per_token * mask).sum(-1)


class PackedRow:
    """prompt+response sequences packed into one row, each its own document: positions restart at 0 for every
    sequence, a block-diagonal mask keeps sequences apart (with the causal mask: each token sees the earlier tokens of
    its own sequence), and the row is right-padded to a multiple of `pad_multiple` (padding is a document of its own).
    ids, position_ids [1, T]; allowed [1, T, T] (bool); label_pos / label_ids / label_seq: each scored token's
    predicting position, its id and its sequence."""

    def __init__(self, prompts, responses, pad_multiple=64, pad_id=0):
        ids, pos, doc, label_pos, label_ids, label_seq = [], [], [], [], [], []
        for i, (p, r) in enumerate(zip(prompts, responses)):
            s = list(p) + list(r)
            start = len(ids)
            ids += s
            pos += range(len(s))
            doc += [i] * len(s)
            for t in range(len(p), len(s)):
                label_pos.append(start + t - 1)
                label_ids.append(s[t])
                label_seq.append(i)
        used = len(ids)
        t = max(pad_multiple, -(-used // pad_multiple) * pad_multiple)
        ids += [pad_id] * (t - used)
        pos += range(t - used)
        doc += [-1] * (t - used)
        doc = torch.tensor(doc)
        self.sequences = len(prompts)
        self.used_tokens = used
        self.ids = torch.tensor([ids], dtype=torch.long)
        self.position_ids = torch.tensor([pos], dtype=torch.long)
        self.allowed = (doc[:, None] == doc[None, :])[None]
        self.label_pos = torch.tensor(label_pos, dtype=torch.long)
        self.label_ids = torch.tensor(label_ids, dtype=torch.long)
        self.label_seq = torch.tensor(label_seq, dtype=torch.long)

    def logps(self, model):
        """The sequences' log-probs [S], in the order given."""
        logits = model(self.ids, position_ids=self.position_ids, allowed=self.allowed)[0]
        per_token = logits.log_softmax(-1)[self.label_pos, self.label_ids]
        return torch.zeros(self.sequences, dtype=per_token.dtype).index_add(0, self.label_seq, per_token)


def dpo_sigmoid_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """TRL's loss_type="sigmoid" (label_smoothing 0): mean over pairs of -logsigmoid(beta * logits) with
    logits = (pc - pr) - (rc - rr), in TRL's order of operations (= (pc - rc) - (pr - rr) exactly in real numbers)."""
    logratios = policy_chosen - policy_rejected
    ref_logratios = ref_chosen - ref_rejected
    logits = logratios - ref_logratios
    return (-F.logsigmoid(beta * logits)).mean()
