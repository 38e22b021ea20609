#!/usr/bin/env python3
"""Plot of `deltarl gradstats --model ... --json FILE`: every response's sketched
squared gradient norm against its length, the per-bin variance, and the fitted
Var = c * L^beta line, on log-log axes.

    python3 deploy/tools/plot_gradstats.py FILE.json OUT.png
"""
import json
import math
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    result = json.load(open(sys.argv[1]))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_gradstats.py: matplotlib is not installed", file=sys.stderr)
        return 3
    figure, axes = plt.subplots(figsize=(6, 4), dpi=110)
    axes.scatter(result["lengths"], result["squared_norms"], s=6, alpha=0.35, label="‖g_i‖² per response")
    bins = result["bins"]
    xs = [b["mean_length"] for b in bins]
    ys = [b["gradient_variance"] for b in bins]
    axes.plot(xs, ys, "o", color="C3", label="Var[g | length bin]")
    # The fit passes through the bins' log-means.
    mx = sum(math.log(x) for x in xs) / len(xs)
    my = sum(math.log(y) for y in ys) / len(ys)
    beta = result["beta"]
    line_x = [min(xs), max(xs)]
    axes.plot(line_x, [math.exp(my + beta * (math.log(x) - mx)) for x in line_x], color="C3",
              label=f"fit: Var ∝ L^{beta:.2f} (R² {result['r_squared']:.2f})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("response length L (tokens)")
    axes.set_ylabel("gradient of Σ_t log π (sketched)")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(sys.argv[2])
    print("wrote", sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
