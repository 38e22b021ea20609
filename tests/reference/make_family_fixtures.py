#!/usr/bin/env python3
"""Parity fixtures for the model families beside Qwen2: tiny random Qwen3 and
Llama 3 models built by Hugging Face `transformers`, with their logits on
padded batches and greedy tokens through transformers' KV cache (the cases
of make_model_fixtures.py, which writes Qwen2's, so one C++ test reads all).

    pip install torch transformers safetensors
    python3 tests/reference/make_family_fixtures.py [qwen3] [llama]

Writes, under tests/fixtures/<family>-tiny/{untied,tied}/:
  config.json + model.safetensors (save_pretrained), and cases.safetensors:
    right_ids, right_mask, right_logits      right-padded batch (training layout)
    left_ids, left_mask, left_positions, left_logits
                                             left-padded batch, positions = cumsum(mask) - 1
    greedy_prompt, greedy_tokens             greedy generate() with the KV cache
    greedy_margins                           each greedy step's top-two logit gap
    inv_freq                                 RoPE's inverse frequencies (fp32)

Qwen3: per-head q/k RMSNorm, no q/k/v bias, head_dim 32 while hidden / heads
is 16. Llama: no biases, rope_scaling of type llama3 with
original_max_position_embeddings 64, so that of head_dim 16's eight
frequencies (wavelengths 6.3, 32.5, 168, ...) one is kept, one interpolated
and six divided by the factor, and cases longer than that (positions up to
89) so the scaled frequencies are exercised. Deterministic (fixed seeds),
fp32, eager attention.
"""
import json
import pathlib
import sys

import torch
import transformers
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_model_fixtures import cases  # noqa: E402  (the same cases for every family)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def qwen3_config(tied: bool):
    return transformers.Qwen3Config(
        vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=128,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied, attention_bias=False,
        use_sliding_window=False, bos_token_id=1, eos_token_id=2, attn_implementation="eager",
    ), transformers.Qwen3ForCausalLM


def llama_config(tied: bool):
    return transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=tied, attention_bias=False,
        mlp_bias=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64},
        bos_token_id=1, eos_token_id=2, attn_implementation="eager",
    ), transformers.LlamaForCausalLM


FAMILIES = {"qwen3": (qwen3_config, [7, 12, 4], 6), "llama": (llama_config, [70, 12, 90], 70)}


def make_model(family: str, tied: bool, seed: int):
    config, model_class = FAMILIES[family][0](tied)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        # transformers initializes norms to 1; randomize every parameter so the
        # parity test sees each one's effect (q_norm and k_norm included).
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5)
            else:
                parameter.normal_(0.0, 0.1)
    return model


def main():
    families = sys.argv[1:] or list(FAMILIES)
    for family in families:
        _, lengths, greedy_prompt_length = FAMILIES[family]
        for tied, seed in ((False, 21), (True, 22)):
            folder = ROOT / f"tests/fixtures/{family}-tiny" / ("tied" if tied else "untied")
            folder.mkdir(parents=True, exist_ok=True)
            model = make_model(family, tied, seed)
            model.save_pretrained(folder, safe_serialization=True)
            tensors = cases(model, seed + 100, lengths, greedy_prompt_length, margins=True)
            # RoPE's inverse frequencies, which deltarl must reproduce bit for bit (llama3 scaling included).
            tensors["inv_freq"] = model.model.rotary_emb.inv_freq.float().contiguous()
            save_file(tensors, str(folder / "cases.safetensors"))
            with open(folder / "transformers_version.json", "w") as f:
                json.dump({"transformers": transformers.__version__, "torch": torch.__version__}, f)
                f.write("\n")
            print(f"wrote {folder} (smallest greedy margin {cases_margin(folder):.3g})")


def cases_margin(folder: pathlib.Path) -> float:
    from safetensors.torch import load_file

    return float(load_file(str(folder / "cases.safetensors"))["greedy_margins"].min())


if __name__ == "__main__":
    main()
