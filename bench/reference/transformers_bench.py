#!/usr/bin/env python3
"""The reference side of bench/run_model_benchmarks.sh: the same measurements as
bench/model_bench.cpp and bench/tokenizer_bench.cpp, with Hugging Face
`transformers` (PyTorch eager mode, its default attention) and `tokenizers`.
Prints one JSON object per measurement.

    python3 bench/reference/transformers_bench.py model MODEL_DIR [--threads 2] ...
    python3 bench/reference/transformers_bench.py tokenize TOKENIZER_JSON TEXT_FILE [REPEATS]
"""
import argparse
import json
import statistics
import time


def model_bench(args):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32)
    vocab = model.config.vocab_size
    if args.train_batch > 0:
        train_bench(args, model, vocab)
    model.eval()
    # Greedy, or with --sample at T = 1 from the whole vocabulary as deltarl's
    # workers are measured (bench/run_engine_benchmarks.sh); every sequence full length.
    choice = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if args.sample else dict(do_sample=False)
    sampling = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=0,
                    eos_token_id=None, use_cache=True, **choice)
    for batch in [int(b) for b in args.decode_batches.split(",") if b]:
        prompts = torch.randint(0, vocab, (batch, args.prompt))
        seconds = timed_generate(args, lambda: model.generate(prompts, attention_mask=torch.ones_like(prompts),
                                                              **sampling))
        print(json.dumps({"impl": "transformers", "bench": "decode", "batch": batch, "prompt": args.prompt,
                          "new_tokens": args.new_tokens, "tokens_per_s": batch * args.new_tokens / seconds}),
              flush=True)
    if args.group_prompts > 0:
        # G samples per prompt: generate's num_return_sequences (the prompt prefilled G times).
        prompts = torch.randint(0, vocab, (args.group_prompts, args.group_prompt_tokens))
        seconds = timed_generate(args, lambda: model.generate(prompts, attention_mask=torch.ones_like(prompts),
                                                              num_return_sequences=args.group_samples, **sampling))
        print(json.dumps({"impl": "transformers", "bench": "decode_group", "prompts": args.group_prompts,
                          "samples": args.group_samples, "prompt": args.group_prompt_tokens,
                          "new_tokens": args.new_tokens,
                          "tokens_per_s": args.group_prompts * args.group_samples * args.new_tokens / seconds}),
              flush=True)


def timed_generate(args, generate):
    """The median seconds of `generate` over max(1, repeats // 2) runs after a warm-up."""
    import torch

    times = []
    for r in range(max(1, args.repeats // 2) + 1):
        start = time.perf_counter()
        with torch.no_grad():
            generate()
        if r > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_bench(args, model, vocab):
    import torch

    model.train()
    ids = torch.randint(0, vocab, (args.train_batch, args.train_seq + 1))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    times = []
    for r in range(args.repeats + 1):
        start = time.perf_counter()
        model.zero_grad()
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab).float(), targets.reshape(-1))
        loss.backward()
        if r > 0:
            times.append(time.perf_counter() - start)
    print(json.dumps({"impl": "transformers", "bench": "train", "batch": args.train_batch, "seq": args.train_seq,
                      "tokens_per_s": args.train_batch * args.train_seq / statistics.median(times)}), flush=True)


def tokenize_bench(args):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(args.tokenizer)
    with open(args.text, encoding="utf-8", newline="") as f:  # keep \r as it is
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    size = sum(len(line.encode("utf-8")) for line in lines)
    # One line per call (as deltarl's bench), and the batch API on all cores.
    for impl, encode in (("tokenizers", lambda: [tokenizer.encode(line, add_special_tokens=False) for line in lines]),
                         ("tokenizers encode_batch", lambda: tokenizer.encode_batch(lines, add_special_tokens=False))):
        times = []
        for r in range(args.repeats + 1):
            start = time.perf_counter()
            tokens = sum(len(encoding.ids) for encoding in encode())
            if r > 0:
                times.append(time.perf_counter() - start)
        print(json.dumps({"impl": impl, "bench": "tokenize", "bytes": size, "tokens": tokens,
                          "mb_per_s": size / 1e6 / statistics.median(times)}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("model")
    m.add_argument("model_dir")
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--train-batch", type=int, default=8, help="0: skip the training measurement")
    m.add_argument("--train-seq", type=int, default=256)
    m.add_argument("--prompt", type=int, default=64)
    m.add_argument("--new-tokens", type=int, default=64)
    m.add_argument("--decode-batches", default="1,32")
    m.add_argument("--repeats", type=int, default=5)
    m.add_argument("--sample", action="store_true", help="sample at T = 1 instead of greedy decoding")
    m.add_argument("--group-prompts", type=int, default=0, help="prompts of the G-samples case (0: skip it)")
    m.add_argument("--group-samples", type=int, default=8)
    m.add_argument("--group-prompt-tokens", type=int, default=200)
    t = sub.add_parser("tokenize")
    t.add_argument("tokenizer")
    t.add_argument("text")
    t.add_argument("repeats", nargs="?", type=int, default=5)
    args = parser.parse_args()
    model_bench(args) if args.command == "model" else tokenize_bench(args)


if __name__ == "__main__":
    main()
