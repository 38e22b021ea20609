#!/usr/bin/env python3
"""Model parity fixtures: tiny random Qwen2 models built by Hugging Face
`transformers`, and their logits on padded batches, with and without a KV cache.

    pip install torch transformers safetensors
    python3 tests/reference/make_model_fixtures.py

Writes, under tests/fixtures/qwen2-tiny/:
  untied/ and tied/   config.json + model.safetensors (save_pretrained)
  untied/cases.safetensors, tied/cases.safetensors:
    right_ids, right_mask, right_logits      right-padded batch (training layout)
    left_ids, left_mask, left_positions, left_logits
                                             left-padded batch, positions = cumsum(mask) - 1
    greedy_prompt, greedy_tokens             greedy generate() with the KV cache
Deterministic (fixed seeds), fp32, eager attention.
"""
import pathlib

import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/qwen2-tiny"


def make_model(tied: bool, seed: int) -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied,
        bos_token_id=1, eos_token_id=2, attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        # transformers initializes biases to 0 and norms to 1; randomize them so
        # the parity test sees every parameter's effect.
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0.0, 0.1)
            elif "norm" in name:
                parameter.uniform_(0.5, 1.5)
            else:
                parameter.normal_(0.0, 0.1)
    return model


def cases(model, seed: int, lengths=(7, 12, 4), greedy_prompt_length=6, margins=False) -> dict:
    """The parity cases of `model` (any family). With `margins`, also
    greedy_margins: each greedy step's top-two logit gap (1, steps)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    seq = max(lengths)
    out = {}
    # Right padding: real tokens first, pad id 0 after them.
    ids = torch.zeros(len(lengths), seq, dtype=torch.int64)
    mask = torch.zeros(len(lengths), seq, dtype=torch.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, vocab, (length,), generator=generator)
        mask[row, :length] = 1
    with torch.no_grad():
        out["right_logits"] = model(input_ids=ids, attention_mask=mask).logits.float()
    out["right_ids"], out["right_mask"] = ids, mask
    # Left padding with explicit positions, as generation batches are laid out.
    ids = torch.zeros(len(lengths), seq, dtype=torch.int64)
    mask = torch.zeros(len(lengths), seq, dtype=torch.int64)
    for row, length in enumerate(lengths):
        ids[row, seq - length:] = torch.randint(3, vocab, (length,), generator=generator)
        mask[row, seq - length:] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        out["left_logits"] = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    out["left_ids"], out["left_mask"], out["left_positions"] = ids, mask, positions
    # Greedy generation through transformers' own KV cache.
    prompt = torch.randint(3, vocab, (1, greedy_prompt_length), generator=generator)
    with torch.no_grad():
        generated = model.generate(prompt, max_new_tokens=10, do_sample=False, eos_token_id=None,
                                   pad_token_id=0, use_cache=True, output_scores=True, return_dict_in_generate=True)
    out["greedy_prompt"], out["greedy_tokens"] = prompt, generated.sequences[:, prompt.shape[1]:]
    if margins:
        top_two = torch.stack(generated.scores).float().topk(2, dim=-1).values  # (steps, 1, 2)
        out["greedy_margins"] = (top_two[..., 0] - top_two[..., 1]).reshape(1, -1)
    return {name: tensor.contiguous() for name, tensor in out.items()}


def main():
    for tied, seed in ((False, 11), (True, 12)):
        folder = OUT / ("tied" if tied else "untied")
        folder.mkdir(parents=True, exist_ok=True)
        model = make_model(tied, seed)
        model.save_pretrained(folder, safe_serialization=True)
        save_file(cases(model, seed + 100), str(folder / "cases.safetensors"))
        print(f"wrote {folder}")


if __name__ == "__main__":
    main()
