#!/usr/bin/env python3
"""Tokenizer parity fixtures: ids from Hugging Face `tokenizers` on a corpus built
to be hard (CJK, emoji sequences, combining marks, digits, whitespace runs, CR/LF,
contractions in any case, special tokens inside text, random Unicode).

    pip install tokenizers
    python3 tests/reference/make_tokenizer_fixtures.py

Writes tests/fixtures/tokenizer/qwen3_parity.jsonl (the real Qwen3 tokenizer)
and countdown_parity.jsonl (the tiny presets' tokenizer, core/presets/): one
{"text", "ids", "nfc"} object per line, where "nfc" is Python's unicodedata NFC
of the text. Deterministic.
"""
import json
import pathlib
import random
import unicodedata

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUTS = {
    ROOT / "tests/fixtures/tokenizer/qwen3_parity.jsonl": ROOT / "tests/fixtures/qwen3-tokenizer/tokenizer.json",
    ROOT / "tests/fixtures/tokenizer/countdown_parity.jsonl": ROOT / "core/presets/countdown-tokenizer.json",
}

HAND_WRITTEN = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "",
    " ",
    "   leading and trailing spaces   ",
    "tabs\tand\t\tmore\t\t\ttabs",
    "line one\nline two\r\nline three\rline four\n\n\n",
    "\r\n\r\n  \n \t\n",
    "trailing newline then spaces\n   ",
    "I'm, you're, he's, we've, they'll, I'd, it's",
    "I'M, YOU'RE, HE'S, WE'VE, THEY'LL, I'D, IT'S, DON'T",
    "We'Ll It'S yoU'Re sHe'D",
    "rock'n'roll o'clock '''quoted'''",
    "0 1 12 123 1234 12345 123456789012345678901234567890",
    "3.14159 -2.5e-10 1,000,000 1_000 0x1F 1/2 ½ ² ③ ٣ ४",
    "Mathematics: \\frac{a}{b} + \\sqrt{x^2 + y^2} = \\boxed{42}",
    "<think>Let me think.</think><answer>(6 + 4) * 2 - 1</answer>",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|>text<|endoftext|><|endoftext|>more",
    "almost special <|im_end| and |im_end|> and <|im_start",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "中文测试：你好，世界！这是一个分词器的测试。",
    "日本語のテキスト、ひらがなとカタカナ。漢字も。",
    "한국어 텍스트입니다. 조합형: \u1112\u1161\u11ab\u1100\u1173\u11af",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵🇺🇸 ❤️ ✈︎ 🫠",
    "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 A\u030a \u1e9b\u0323 q\u0307\u0323",
    "Precomposed vs decomposed: é vs e\u0301, Å vs A\u030a vs \u212b (angstrom)",
    "Arabic: مرحبا بالعالم. Hebrew: שלום עולם. Mixed: abcعربيdef",
    "Devanagari: नमस्ते दुनिया। Thai: สวัสดีชาวโลก Tamil: வணக்கம்",
    "Cyrillic: Привет, мир! Greek: Γειά σου Κόσμε! ΣΊΣΥΦΟΣ",
    "Non-breaking\u00a0space, ideographic\u3000space, thin\u2009space, zero\u200bwidth",
    "NEL\u0085next line\u2028line sep\u2029para sep\u000bvtab\u000cformfeed",
    "control \u0001\u0002\u001f chars and \u007f delete",
    "BOM\ufeffinside and private use \ue000\uf8ff",
    "def f(x):\n    return x ** 2  # comment\n\n\tif x >= 0 and y != 1: pass",
    "https://example.com/path?query=1&b=2#frag user@example.org",
    "!!!??? ... --- *** ((( ))) [[[ ]]] {{{ }}} ~~~ ```code```",
    "'s 's 'S 'll 'LL 'lL",
    "a  b   c    d     e",
    "  \n  ",
    "multiple\n\n\n\nnewlines and spaces    \n\n  after",
    "Ünïcödé ÀÉÎÕÜ ßẞ ﬁﬂ ﬀ ǅ ǈ",
    "𝐁𝐨𝐥𝐝 𝓈𝒸𝓇𝒾𝓅𝓉 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝟙𝟚𝟛",
    "CountDown: using [3, 7, 25, 50], make 73. <answer>50 + 25 - 7 + 3 + 2</answer>",
]


def random_texts(count, seed):
    """Random mixtures of characters from many Unicode blocks."""
    rng = random.Random(seed)
    pools = [
        (0x20, 0x7E), (0x0A, 0x0D), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF),
        (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F),
        (0x1100, 0x11FF), (0x2000, 0x206F), (0x2070, 0x209F), (0x2100, 0x218F),
        (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00),
        (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x1D400, 0x1D4FF),
    ]
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(1, 60)):
            lo, hi = rng.choice(pools)
            code = rng.randint(lo, hi)
            if 0xD800 <= code <= 0xDFFF:
                continue
            chars.append(chr(code))
            if rng.random() < 0.15:
                chars.append(rng.choice([" ", "  ", "\n", "\t", "'s", "'LL", "<|im_end|>", "123"]))
        texts.append("".join(chars))
    return texts


def main():
    for out_path, tokenizer_path in OUTPUTS.items():
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with out_path.open("w", encoding="utf-8") as out:
            for text in HAND_WRITTEN + random_texts(400, seed=20261124):
                ids = tokenizer.encode(text, add_special_tokens=False).ids
                line = {"text": text, "ids": ids, "nfc": unicodedata.normalize("NFC", text)}
                out.write(json.dumps(line, ensure_ascii=True) + "\n")
        print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
