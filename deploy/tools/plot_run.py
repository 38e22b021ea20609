#!/usr/bin/env python3
"""Plots of a deltarl run folder, as PNG: reward, held-out accuracy, response
length and grad norm per step (and any other metric named with --metric).

    python3 deploy/tools/plot_run.py RUN_DIR [--out DIR] [--metric name ...]

A tool, not part of training: reads RUN_DIR/metrics.jsonl, writes
RUN_DIR/plots/<metric>.png (or --out). Needs matplotlib.
"""
import argparse
import json
import os
import sys

DEFAULT_METRICS = [
    ("reward/unfiltered_mean", "reward (all samples drawn, before dynamic-sampling filters)"),
    ("reward/mean", "reward (mean over the step's trained samples)"),
    ("eval/accuracy", "held-out accuracy"),
    ("response_length/mean", "response length (tokens)"),
    ("actor/grad_norm", "gradient norm (before clipping)"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--out", help="folder for the PNG files (default RUN_DIR/plots)")
    parser.add_argument("--metric", action="append", default=[], help="another metric to plot")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_run.py: matplotlib is not installed (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return 3
    metrics_path = os.path.join(args.run_dir, "metrics.jsonl")
    rows = []
    with open(metrics_path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    print(f"plot_run.py: {metrics_path}:{number}: not JSON ({error})", file=sys.stderr)
                    return 2
    out = args.out or os.path.join(args.run_dir, "plots")
    os.makedirs(out, exist_ok=True)
    wanted = DEFAULT_METRICS + [(name, name) for name in args.metric]
    written = []
    for name, title in wanted:
        points = [(row["step"], row[name]) for row in rows if row.get(name) is not None]
        if not points:
            continue
        steps, values = zip(*points)
        figure, axes = plt.subplots(figsize=(6, 3.6), dpi=110)
        axes.plot(steps, values, marker="o" if len(points) <= 30 else None, markersize=3, linewidth=1.4)
        axes.set_xlabel("step")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        path = os.path.join(out, name.replace("/", "_") + ".png")
        temporary = path + ".partial.png"
        figure.savefig(temporary)
        os.replace(temporary, path)
        plt.close(figure)
        written.append(path)
    print("plots: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
