#!/usr/bin/env python3
"""Checkpoints saved by deltarl load in Hugging Face transformers unchanged and
give deltarl's logits (max abs difference <= 1e-4 on unpadded positions).

    python3 tests/reference/check_transformers_roundtrip.py FOLDER

FOLDER is written by the export_for_transformers test program. Exits 77 (ctest's
"skipped") when torch or transformers is not installed.
"""
import pathlib
import sys

try:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM
except ImportError as error:  # pragma: no cover
    print(f"skipped: {error} (pip install torch transformers safetensors)")
    sys.exit(77)


def main():
    root = pathlib.Path(sys.argv[1])
    worst = 0.0
    classes = {"qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "llama": "LlamaForCausalLM"}
    for family, tying in [(f, t) for f in classes for t in ("tied", "untied")]:
        name = f"{family}-{tying}"
        folder = root / name
        config = AutoConfig.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        assert type(model).__name__ == classes[family], type(model).__name__
        assert config.tie_word_embeddings == (tying == "tied"), config.tie_word_embeddings
        expected = load_file(str(folder / "expected.safetensors"))
        with torch.no_grad():
            logits = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"]).logits
        valid = expected["attention_mask"].bool()
        difference = (logits.float() - expected["logits"]).abs()[valid].max().item()
        print(f"{name}: max |logits difference| = {difference:.3g}")
        worst = max(worst, difference)
    if worst > 1e-4:
        print("FAILED: transformers disagrees with deltarl")
        sys.exit(1)
    print("transformers loads deltarl's checkpoints with the same logits")


if __name__ == "__main__":
    main()
