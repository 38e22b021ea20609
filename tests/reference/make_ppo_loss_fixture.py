#!/usr/bin/env python3
"""An independent check of the PPO-clip loss: the gradient of J for a fixed
batch on the tiny untied Qwen2 fixture model, computed by PyTorch and Hugging
Face `transformers`, once per loss weighting (ΔL with α = 1 and group scope,
DAPO's token-mean, GRPO's seq-mean-token-mean). tests/trainer/ppo_loss_reference_test.cpp
checks deltarl's PolicyUpdater against it, without Python.

    pip install torch transformers safetensors
    python3 tests/reference/make_ppo_loss_fixture.py

The loss, as trainer/algorithm/policy_loss.h defines it (no KL, entropy or
rollout correction; T = 1, ε_low = 0.2, ε_high = 0.28, dual clip c = 3):

    r       = exp(lp - lp_old)           lp = log_softmax(logits)[target], fp32
    p_{i,t} = max(-A_i r, -A_i clip(r, 1-ε_low, 1+ε_high)),  then min(p, -A_i c) where A_i < 0
    J       = Σ_i w_i Σ_{t<L_i} p_{i,t}
    A_i     = (r_i - mean_g) / (std_g + 1e-6), std unbiased       (GRPO, advantage.h)
    w_i     = L_i^-1 / (M · #groups · Σ_{j∈g(i)} L_j^-1)          delta_l  (M = 16)
              1 / Σ_S L_j                                         token_mean
              1 / (|S| L_i)                                       seq_mean_token_mean

Each sample is prompt_ids + response_ids, right-padded; the logit at position
prompt_len - 1 + t predicts response token t. π_old is the model's own
log-probs shifted per token so that the ratio falls in every regime of the
loss: unclipped, clipped at 1+ε_high (A > 0), clipped at 1-ε_low (A < 0) and
dual-clipped (A < 0, r > c); the script asserts each occurs.

Writes tests/fixtures/qwen2-tiny/untied/ppo_loss_reference.safetensors:
  prompt_ids (n, P) int64, prompt_lengths (n,), response_ids (n, R) int64,
  response_lengths (n,), groups (n,), rewards (n,) float64,
  old_log_probs (n, R) float32 (0 past the response),
  regime_counts (4,) int64: unclipped, clipped high, clipped low, dual-clipped;
  per mode m in {delta_l, token_mean, seq_mean_token_mean}:
    loss.m                 J, float64 scalar
    grad.m.<parameter>     every kStride-th element of the flattened gradient (fp32)
    grad_norm.m.<parameter> the whole gradient's L2 norm (float64 scalar)
The full gradients (3 × 125k fp32) would be 1.5 MB; the strided samples keep
the fixture near 250 KB, and the norms still see every element.
Deterministic (fixed seed), fp32 model, eager attention.
"""
import math
import pathlib

import torch
from safetensors.torch import save_file
from transformers import Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests/fixtures/qwen2-tiny/untied"
OUT = MODEL / "ppo_loss_reference.safetensors"

CLIP_LOW, CLIP_HIGH, CLIP_C = 0.2, 0.28, 3.0
MAX_RESPONSE_LENGTH = 16.0  # M
EPSILON = 1e-6
STRIDE = 7  # coprime with every row length (64, 32, 160): the samples cover every column
MODES = ("delta_l", "token_mean", "seq_mean_token_mean")

# (group, prompt length, response length, reward). Group 3's rewards are all
# equal: A = 0, no gradient, but its samples count in every normalizer.
BATCH = [
    (0, 3, 7, 1.0), (0, 5, 2, 0.0), (0, 2, 12, 0.0), (0, 4, 5, 1.0),
    (1, 6, 1, 0.0), (1, 3, 9, 1.0), (1, 7, 4, 0.0),
    (2, 2, 11, 1.0), (2, 4, 3, 0.0), (2, 5, 8, 0.0), (2, 3, 6, 0.0),
    (3, 4, 5, 1.0), (3, 2, 10, 1.0), (3, 6, 2, 1.0),
]

# Target ratios π/π_old, cycled along each response (started at the sample's
# index so short responses differ), each jittered by at most ±1 %, which keeps
# them > 2 % away from 1-ε_low, 1+ε_high and c. 1.24 (A > 0, unclipped) and
# 0.76 (A < 0, clipped) lie between 1±0.2 and 1±0.28: a symmetric clip, or
# ε_low and ε_high swapped, changes their gradient.
RATIOS_POSITIVE = [1.10, 1.60, 0.90, 1.24, 0.55, 2.20, 1.00]  # A > 0: 1.6 and 2.2 clip high
RATIOS_NEGATIVE = [0.95, 0.50, 4.50, 1.50, 0.76, 3.60, 1.15, 0.70]  # A < 0: 0.5, 0.76, 0.7 clip low;
                                                                     # 4.5, 3.6 dual


def advantages(groups, rewards):
    out = torch.zeros(len(rewards), dtype=torch.float64)
    for g in groups.unique():
        members = groups == g
        r = rewards[members]
        std = r.std(unbiased=True) if r.numel() > 1 else None
        out[members] = 0.0 if std is None else (r - r.mean()) / (std + EPSILON)
    return out


def weights(mode, groups, lengths):
    lengths = lengths.to(torch.float64)
    if mode == "token_mean":
        return torch.full_like(lengths, 1.0 / lengths.sum().item())
    if mode == "seq_mean_token_mean":
        return 1.0 / (lengths.numel() * lengths)
    assert mode == "delta_l"
    power = lengths.pow(-1.0)
    num_groups = groups.unique().numel()
    group_sums = torch.stack([power[groups == g].sum() for g in groups])
    return power / (MAX_RESPONSE_LENGTH * num_groups * group_sums)


def response_log_probs(model, prompt_ids, prompt_lengths, response_ids, response_lengths):
    """(n, R) fp32 log-probs of the response tokens, 0 past each response."""
    n = prompt_ids.shape[0]
    seq = int((prompt_lengths + response_lengths).max())
    ids = torch.zeros(n, seq, dtype=torch.int64)
    mask = torch.zeros(n, seq, dtype=torch.int64)
    for i in range(n):
        p, r = int(prompt_lengths[i]), int(response_lengths[i])
        ids[i, :p] = prompt_ids[i, :p]
        ids[i, p:p + r] = response_ids[i, :r]
        mask[i, :p + r] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (n, seq, vocab)
    log_probs = torch.log_softmax(logits, dim=-1)
    out = torch.zeros(n, response_ids.shape[1], dtype=torch.float32)
    rows = []
    for i in range(n):
        p, r = int(prompt_lengths[i]), int(response_lengths[i])
        positions = torch.arange(p - 1, p - 1 + r)
        picked = log_probs[i, positions, response_ids[i, :r]]
        rows.append(torch.cat([picked, torch.zeros(response_ids.shape[1] - r)]))
    return torch.stack(rows)


def per_token_loss(ratio, advantage):
    """(n, R) float64 p_{i,t}, and the regime of each token."""
    a = advantage.unsqueeze(1)
    unclipped = -a * ratio
    clipped = -a * ratio.clamp(1.0 - CLIP_LOW, 1.0 + CLIP_HIGH)
    loss = torch.maximum(unclipped, clipped)
    dual = -a * CLIP_C
    negative = (a < 0).expand_as(loss)
    dual_taken = negative & (loss > dual)
    loss = torch.where(negative, torch.minimum(loss, dual), loss)
    regime = torch.zeros_like(ratio, dtype=torch.int64)  # 0 unclipped
    regime[(clipped > unclipped) & (a > 0)] = 1          # clipped at 1+ε_high
    regime[(clipped > unclipped) & (a < 0)] = 2          # clipped at 1-ε_low
    regime[dual_taken] = 3                               # dual-clipped at -A c
    return loss, regime


def main():
    torch.manual_seed(0)
    model = Qwen2ForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    generator = torch.Generator().manual_seed(16)
    vocab = model.config.vocab_size
    n = len(BATCH)
    groups = torch.tensor([b[0] for b in BATCH], dtype=torch.int64)
    prompt_lengths = torch.tensor([b[1] for b in BATCH], dtype=torch.int64)
    response_lengths = torch.tensor([b[2] for b in BATCH], dtype=torch.int64)
    rewards = torch.tensor([b[3] for b in BATCH], dtype=torch.float64)
    prompt_ids = torch.zeros(n, int(prompt_lengths.max()), dtype=torch.int64)
    response_ids = torch.zeros(n, int(response_lengths.max()), dtype=torch.int64)
    for i in range(n):
        prompt_ids[i, :prompt_lengths[i]] = torch.randint(3, vocab, (int(prompt_lengths[i]),), generator=generator)
        response_ids[i, :response_lengths[i]] = torch.randint(3, vocab, (int(response_lengths[i]),),
                                                               generator=generator)
    valid = torch.arange(response_ids.shape[1]).unsqueeze(0) < response_lengths.unsqueeze(1)  # (n, R)
    advantage = advantages(groups, rewards)

    # π_old: the current log-probs minus log(target ratio), stored in fp32.
    with torch.no_grad():
        current = response_log_probs(model, prompt_ids, prompt_lengths, response_ids, response_lengths)
    target = torch.ones(n, response_ids.shape[1], dtype=torch.float64)
    for i in range(n):
        cycle = RATIOS_POSITIVE if advantage[i] > 0 else RATIOS_NEGATIVE
        for t in range(int(response_lengths[i])):
            jitter = 1.0 + 0.01 * (2.0 * torch.rand((), generator=generator, dtype=torch.float64).item() - 1.0)
            target[i, t] = cycle[(i + t) % len(cycle)] * jitter
    old_log_probs = torch.where(valid, current - target.log().float(), torch.zeros_like(current))

    out = {
        "prompt_ids": prompt_ids, "prompt_lengths": prompt_lengths, "response_ids": response_ids,
        "response_lengths": response_lengths, "groups": groups, "rewards": rewards,
        "old_log_probs": old_log_probs,
    }
    names = [name for name, _ in model.named_parameters()]
    flat_gradients = {}
    for mode in MODES:
        model.zero_grad(set_to_none=True)
        log_probs = response_log_probs(model, prompt_ids, prompt_lengths, response_ids, response_lengths)
        ratio = torch.exp(log_probs.double() - old_log_probs.double())
        loss, regime = per_token_loss(ratio, advantage)
        w = weights(mode, groups, response_lengths)
        objective = (w * (loss * valid).sum(dim=1)).sum()
        objective.backward()
        out[f"loss.{mode}"] = objective.detach().reshape(())
        flat = []
        for name, parameter in model.named_parameters():
            gradient = parameter.grad.detach().float().reshape(-1)
            out[f"grad.{mode}.{name}"] = gradient[::STRIDE].clone()
            out[f"grad_norm.{mode}.{name}"] = gradient.double().norm().reshape(())
            flat.append(gradient)
        flat_gradients[mode] = torch.cat(flat)
        counts = torch.stack([((regime == k) & valid & (advantage != 0).unsqueeze(1)).sum() for k in range(4)])
        out["regime_counts"] = counts
        print(f"{mode:>20}: J = {objective.item():+.6e}  max|g| = {flat_gradients[mode].abs().max():.4e}")

    labels = ("unclipped", "clipped at 1+eps_high", "clipped at 1-eps_low", "dual-clipped")
    counts = out["regime_counts"]
    print("regimes (tokens with A != 0):", ", ".join(f"{label} {int(c)}" for label, c in zip(labels, counts)))
    print(f"tokens with A = 0: {int((valid & (advantage == 0).unsqueeze(1)).sum())}, "
          f"ratio range {ratio[valid].min():.3f} .. {ratio[valid].max():.3f}")
    assert all(int(c) > 0 for c in counts), "every regime of the loss must occur"
    # No ratio near a branch boundary: the rounding of another implementation
    # cannot move a token from one regime to another.
    for bound in (1.0 - CLIP_LOW, 1.0 + CLIP_HIGH, CLIP_C):
        assert (ratio[valid] / bound - 1.0).abs().min() > 0.02, f"a ratio lies within 2 % of {bound}"
    signal = valid & (advantage != 0).unsqueeze(1)
    between = {"1+0.2 .. 1+0.28": (ratio > 1.2) & (ratio < 1.28) & (advantage > 0).unsqueeze(1),
               "1-0.28 .. 1-0.2": (ratio > 0.72) & (ratio < 0.8) & (advantage < 0).unsqueeze(1)}
    for window, tokens in between.items():
        print(f"tokens with a ratio in {window}: {int((tokens & signal).sum())}")
        assert int((tokens & signal).sum()) > 0, f"no ratio in {window}: the clip's ε would not be checked"
    for a in range(len(MODES)):
        for b in range(a + 1, len(MODES)):
            ga, gb = flat_gradients[MODES[a]], flat_gradients[MODES[b]]
            scale = max(ga.abs().max().item(), gb.abs().max().item())
            print(f"max|g_{MODES[a]} - g_{MODES[b]}| = {(ga - gb).abs().max():.4e} "
                  f"({(ga - gb).abs().max() / scale:.3f} of the larger max|g|)")
    assert len(names) == len(set(names))
    save_file({name: tensor.contiguous() for name, tensor in out.items()}, str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
