#!/usr/bin/env python3
"""The tokenizer shipped for the tiny model presets: a byte-level BPE with
Qwen2's pre-tokenizer (digits one by one), trained with Hugging Face
`tokenizers` on CountDown-style prompts and solutions, 512 entries.

    pip install tokenizers
    python3 tests/reference/make_countdown_tokenizer.py

Writes core/presets/countdown-tokenizer.json. Deterministic.
"""
import json
import pathlib
import random

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "core/presets/countdown-tokenizer.json"
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ADDED = ["<think>", "</think>", "<answer>", "</answer>"]


def corpus(count, seed):
    rng = random.Random(seed)
    words = ("Using the numbers create an equation that equals You can use basic arithmetic operations "
             "and each number can only be used once Show your work in think tags and return the final "
             "answer in answer tags for example Let me try first then so we get which is too large small "
             "close not right Now add subtract multiply divide gives the result target").split()
    for _ in range(count):
        numbers = [rng.randint(1, 99) for _ in range(rng.randint(3, 4))]
        target = rng.randint(1, 200)
        ops = " ".join(f"{rng.choice(numbers)} {rng.choice('+-*/')} {rng.choice(numbers)} = {rng.randint(0, 300)}"
                       for _ in range(rng.randint(1, 5)))
        prose = " ".join(rng.choice(words) for _ in range(rng.randint(5, 30)))
        yield (f"<|im_start|>user\nUsing the numbers {numbers}, create an equation that equals {target}. "
               f"{prose}<|im_end|>\n<|im_start|>assistant\n<think>{prose}. {ops}</think>\n"
               f"<answer>({numbers[0]} + {numbers[1]}) * {numbers[2]}</answer><|im_end|>")


def main():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512 - len(ADDED), special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus(20000, seed=7), trainer=trainer)
    tokenizer.add_tokens(ADDED)
    assert tokenizer.get_vocab_size() == 512, tokenizer.get_vocab_size()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json.loads(tokenizer.to_str()), ensure_ascii=False, indent=1)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({tokenizer.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main()
