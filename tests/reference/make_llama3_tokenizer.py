#!/usr/bin/env python3
"""A Llama-3-style tokenizer.json and its parity fixture, built with Hugging
Face `tokenizers` (Meta's file cannot be fetched here): byte-level BPE with
Llama 3's pre-tokenizer regex (digits in runs of up to three) and
`ignore_merges`, trained on the hard corpus of make_tokenizer_fixtures.py.

    pip install tokenizers
    python3 tests/reference/make_llama3_tokenizer.py

`ignore_merges` (a piece that is itself in the vocabulary is one token,
whatever the merges would make of it) changes nothing for a vocabulary whose
every token its merges reach, as a trained one is. So three tokens are added
that the merges do not reach ("Qwz" from merges ranked Q+w before w+z, and
two like it), after training on a corpus without them; the parity corpus
holds words with them, and the script checks that ignore_merges changes
their ids.

Writes tests/fixtures/llama3-tokenizer/tokenizer.json and
tests/fixtures/tokenizer/llama3_parity.jsonl ({"text", "ids", "decoded"} per
line: without a normalizer the text decodes back to itself). Deterministic.
"""
import json
import pathlib
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_tokenizer_fixtures import HAND_WRITTEN, random_texts  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests/fixtures/llama3-tokenizer/tokenizer.json"
PARITY = ROOT / "tests/fixtures/tokenizer/llama3_parity.jsonl"

# Llama 3's tokenizer.json pre_tokenizer Split pattern.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# (left, middle, right): merges left+middle, then middle+right, then left+(middle+right):
# the merges make [left+middle, right] of the word, ignore_merges its own token.
UNREACHABLE = [("Q", "w", "z"), ("ĠX", "y", "j"), ("K", "v", "q")]
IGNORE_MERGES_TEXTS = ["Qwz", "say Xyj twice: Xyj", "Kvq Qwz Xyj", "Kvq, then QwzQwz."]
# Near misses, the same with and without ignore_merges: pieces that are not themselves tokens.
NEAR_MISSES = ["Qw wz Qwzz", "QwzQwz", "the Xyjj of Kvqq"]


def corpus():
    return HAND_WRITTEN + random_texts(400, seed=20261124)


def build():
    tokenizer = Tokenizer(models.BPE(ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    spec = json.loads(tokenizer.to_str())
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    as_pair = (lambda a, b: [a, b]) if merges and isinstance(merges[0], list) else (lambda a, b: f"{a} {b}")
    for left, middle, right in UNREACHABLE:
        for a, b in ((left, middle), (middle, right), (left, middle + right)):
            for token in (a, b, a + b):
                vocab.setdefault(token, max(vocab.values()) + 1)
            merges.append(as_pair(a, b))
    spec["model"]["ignore_merges"] = True
    # As Llama 3's: the special tokens are added tokens after the vocabulary.
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.add_special_tokens(SPECIAL)
    return tokenizer, json.loads(tokenizer.to_str())


def main():
    tokenizer, spec = build()
    without = json.loads(json.dumps(spec))
    without["model"]["ignore_merges"] = False
    plain = Tokenizer.from_str(json.dumps(without))
    for text in IGNORE_MERGES_TEXTS:
        with_ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert with_ids != plain.encode(text, add_special_tokens=False).ids, f"ignore_merges changes nothing in {text!r}"
    for text in NEAR_MISSES:
        assert tokenizer.encode(text).ids == plain.encode(text).ids, f"ignore_merges changes {text!r}"
    TOKENIZER.parent.mkdir(parents=True, exist_ok=True)
    TOKENIZER.write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    with PARITY.open("w", encoding="utf-8") as out:
        texts = corpus() + IGNORE_MERGES_TEXTS + NEAR_MISSES + ["<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi 12345<|eot_id|>"]
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            # No normalizer: decoding gives the text back as it was, not its NFC.
            decoded = tokenizer.decode(ids, skip_special_tokens=False)
            assert decoded == text, f"{text!r} decodes to {decoded!r}"
            out.write(json.dumps({"text": text, "ids": ids, "decoded": decoded}, ensure_ascii=True) + "\n")
    print(f"wrote {TOKENIZER} ({tokenizer.get_vocab_size()} tokens) and {PARITY}")


if __name__ == "__main__":
    main()
