#!/usr/bin/env python3
"""Table and plot for deploy/experiments/compare_aggregations.sh.

    python3 deploy/experiments/summarize_aggregations.py OUT_DIR

Reads OUT_DIR/<mode>-seed<k>/metrics.jsonl. For each mode: final held-out
accuracy (mean ± sample std over seeds), the gain over the starting model, and
monotonicity = Spearman rank correlation between step and held-out accuracy over
a run's evaluation points (1: accuracy never drops as training goes on; 0: no
trend), averaged over seeds. Writes OUT_DIR/table.md and OUT_DIR/accuracy.png
(when matplotlib is present).
"""
import glob
import json
import math
import os
import re
import sys

ORDER = ["grpo", "dapo", "dr-grpo", "delta-l-0.5", "delta-l-0.75", "delta-l-1"]
LABEL = {"grpo": "GRPO (seq-mean-token-mean)", "dapo": "DAPO (token-mean)", "dr-grpo": "Dr. GRPO (M = max length)",
         "delta-l-0.5": "ΔL α = 0.5", "delta-l-0.75": "ΔL α = 0.75", "delta-l-1": "ΔL α = 1"}


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2.0
        i = j + 1
    return result


def spearman(xs, ys):
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else 0.0


def mean_std(values):
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def main():
    out = sys.argv[1]
    curves = {}
    for path in sorted(glob.glob(os.path.join(out, "*-seed*/metrics.jsonl"))):
        match = re.match(r"(.+)-seed(\d+)$", os.path.basename(os.path.dirname(path)))
        rows = [json.loads(line) for line in open(path)]
        points = [(r["step"], r["eval/accuracy"]) for r in rows if "eval/accuracy" in r]
        if len(points) >= 2:
            curves.setdefault(match.group(1), []).append(points)
    # Only finished runs (their last evaluation at the longest run's last step):
    # a run still going, or stopped early, would skew the final accuracy.
    last = max((run[-1][0] for runs in curves.values() for run in runs), default=0)
    curves = {mode: [run for run in runs if run[-1][0] == last] for mode, runs in curves.items()}
    curves = {mode: runs for mode, runs in curves.items() if runs}
    lines = ["| mode | seeds | start | final held-out accuracy (mean ± std) | gain (points) | monotonicity (Spearman) |",
             "|---|---|---|---|---|---|"]
    for mode in [m for m in ORDER if m in curves]:
        runs = curves[mode]
        final_mean, final_std = mean_std([run[-1][1] for run in runs])
        start = sum(run[0][1] for run in runs) / len(runs)
        monotone = sum(spearman([s for s, _ in run], [a for _, a in run]) for run in runs) / len(runs)
        lines.append(f"| {LABEL[mode]} | {len(runs)} | {100 * start:.1f} % | {100 * final_mean:.1f} ± {100 * final_std:.1f} % "
                     f"| {100 * (final_mean - start):+.1f} | {monotone:+.2f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return
    figure, axes = plt.subplots(figsize=(7, 4), dpi=110)
    for mode in [m for m in ORDER if m in curves]:
        runs = curves[mode]
        steps = [s for s, _ in runs[0]]
        means = [sum(run[i][1] for run in runs) / len(runs) for i in range(len(steps))]
        axes.plot(steps, [100 * m for m in means], marker="o", markersize=3, label=LABEL[mode])
    axes.set_xlabel("RL step")
    axes.set_ylabel("held-out accuracy (%), mean over seeds")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(out, "accuracy.png"))
    print("plot:", os.path.join(out, "accuracy.png"))


if __name__ == "__main__":
    main()
