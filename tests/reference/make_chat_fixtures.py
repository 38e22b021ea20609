#!/usr/bin/env python3
"""Chat-format fixtures: prompts rendered by transformers' apply_chat_template
from the tokenizer_config.json chat templates of the Qwen3 tokenizer
(tests/fixtures/qwen3-tokenizer/, the Qwen team's file) and of the Llama-3-style
fixture tokenizer (tests/fixtures/llama3-tokenizer/, Llama 3 Instruct's
template), with thinking on and off for Qwen3, and the ids `tokenizers` gives
each render. core/tokenizer/chat_format.h must render the same text.

    pip install torch transformers
    python3 tests/reference/make_chat_fixtures.py

Writes tests/fixtures/tokenizer/chat_renders.jsonl: one {"tokenizer", "format",
"thinking", "messages", "text", "ids"} object per line. Deterministic.
"""
import json
import pathlib

from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/tokenizer/chat_renders.jsonl"
CONVERSATIONS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Make 24 from 3, 8, 8, 3.\n"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Count to 3."}],
]


def main():
    lines = []
    for folder, format_name in (("qwen3-tokenizer", "qwen3"), ("llama3-tokenizer", "llama3")):
        tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "tests/fixtures" / folder))
        for messages in CONVERSATIONS:
            for thinking in ((True, False) if format_name == "qwen3" else (True,)):
                extra = {} if format_name != "qwen3" else {"enable_thinking": thinking}
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
                ids = tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids
                lines.append({"tokenizer": f"tests/fixtures/{folder}/tokenizer.json", "format": format_name,
                              "thinking": thinking, "messages": messages, "text": text, "ids": ids})
    with OUT.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=True) + "\n")
    print(f"wrote {OUT} ({len(lines)} renders)")


if __name__ == "__main__":
    main()
