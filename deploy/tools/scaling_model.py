#!/usr/bin/env python3
"""The step-time cost model of deltarl, fitted to measured scaling runs, checked
against them, and used to predict step time for N nodes (docs/scaling.md).

    python3 deploy/tools/scaling_model.py OUT [--nodes 1,2,4,...] [--network-gb-s 1.25]
        [--network-latency-us 30] [--node-learners K] [--node-workers K]
        [--parameters P] [--strong-prompts 256]

Each measured point is checked against the model fitted without it
(leave-one-out). Reads OUT/runs.csv and OUT/allreduce.csv (deploy/experiments/scaling.sh writes
them); writes OUT/model.json, OUT/check.csv, OUT/prediction.csv and PNG plots
when matplotlib is there. A tool, never part of training.

The model, per step (R learner ranks, W workers, P parameters, float32 grads):
  generation  = c_g + s_g * generated_tokens / W          (workers share the groups)
  training    = c_t + s_t * trained_tokens / R + allreduce(R, 4P)
  allreduce   = k * bytes + 2(R-1) a + 2(R-1)/R * bytes / b (ring; a, b from the sweep;
                                                           k: bucket copies, from 1-rank runs)
  weight sync = s_s * ceil(W/R) * 4P                       (each rank uploads to its share of the workers)
  step        = generation + training + weight sync + c_o  (c_o: exchange, metrics)
Across N nodes the all-reduce is hierarchical (inside a node at the measured
a, b; between nodes a ring at the given network latency and bandwidth) and
the uploads to workers on other nodes cross that network (none when each node
has as many workers as learner ranks: worker w gets its weights from rank w).
"""
import argparse
import csv
import json
import math
import os
import sys


def least_squares(xs, ys):
    """y = c + s x; falls back to a proportional fit when x does not vary."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var_x = sum((x - mean_x) ** 2 for x in xs)
    if var_x <= 1e-12 * max(1.0, mean_x ** 2):
        return 0.0, mean_y / mean_x if mean_x else 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var_x
    return mean_y - slope * mean_x, slope


def read_csv(path):
    with open(path) as f:
        return [{k: (float(v) if k != "kind" else v) for k, v in row.items()} for row in csv.DictReader(f)]


def fit(runs, sweep):
    model = {}
    model["parameters"] = runs[0]["parameters"]
    c_g, s_g = least_squares([r["generated_tokens"] / r["workers"] for r in runs], [r["generation_s"] for r in runs])
    c_t, s_t = least_squares([r["trained_tokens"] / r["ranks"] for r in runs],
                             [r["training_s"] - r["gradient_allreduce_s"] for r in runs])
    # Weight sync through the origin: with one model size the bytes per upload
    # hardly vary, and a fitted intercept would absorb the whole cost (and then
    # not grow with --parameters).
    sync_x = [math.ceil(r["workers"] / r["ranks"]) * 4 * r["parameters"] for r in runs]
    s_s = sum(x * r["weight_sync_s"] for x, r in zip(sync_x, runs)) / sum(x * x for x in sync_x)
    # all-reduce: t = 2(R-1) a + 2(R-1)/R bytes / b, linear in (a, 1/b); fitted
    # in relative terms (each row scaled by 1/t) so small messages count too.
    rows = [(2 * (r["ranks"] - 1) / r["seconds"], 2 * (r["ranks"] - 1) / r["ranks"] * r["bytes"] / r["seconds"], 1.0)
            for r in sweep]
    sxx = sum(x * x for x, _, _ in rows); syy = sum(y * y for _, y, _ in rows); sxy = sum(x * y for x, y, _ in rows)
    sxt = sum(x * t for x, _, t in rows); syt = sum(y * t for _, y, t in rows)
    det = sxx * syy - sxy * sxy
    a = (sxt * syy - syt * sxy) / det
    inverse_b = (sxx * syt - sxy * sxt) / det
    if a < 0:  # no measurable latency: refit the bandwidth alone
        a, inverse_b = 0.0, syt / syy
    inverse_b = max(1e-15, inverse_b)
    # The trainer's all-reduce also flattens the gradients into buckets and back:
    # what it costs with no one to talk to (1 rank), per byte.
    single = [r for r in runs if r["ranks"] == 1]
    copy_s_per_byte = (sum(r["gradient_allreduce_s"] / (4 * r["parameters"]) for r in single) / len(single)
                       if single else 0.0)
    model.update(generation_fixed_s=max(0.0, c_g), generation_s_per_token_per_worker=s_g,
                 training_fixed_s=max(0.0, c_t), training_s_per_token_per_rank=s_t,
                 sync_s_per_byte=s_s,
                 allreduce_latency_s=a, allreduce_bandwidth_bytes_s=1 / inverse_b,
                 allreduce_copy_s_per_byte=copy_s_per_byte)
    model["other_s"] = max(0.0, sum(r["step_s"] - r["generation_s"] - r["training_s"] - r["weight_sync_s"]
                                    for r in runs) / len(runs))
    return model


def ring(ranks, nbytes, latency, bandwidth):
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def predict(model, ranks, workers, generated, trained, parameters=None, nodes=1, network=None):
    p = parameters or model["parameters"]
    scale = p / model["parameters"]   # per-token compute taken as proportional to the parameters
    nbytes = 4 * p
    generation = model["generation_fixed_s"] + scale * model["generation_s_per_token_per_worker"] * generated / workers
    local_ranks = max(1, ranks // nodes)
    allreduce = model["allreduce_copy_s_per_byte"] * nbytes + ring(local_ranks, nbytes, model["allreduce_latency_s"],
                                                                   model["allreduce_bandwidth_bytes_s"])
    share = math.ceil(workers / ranks)
    sync = model["sync_s_per_byte"] * nbytes * share
    if nodes > 1:
        latency, bandwidth = network
        # between nodes: each node's reduced share crosses a ring of N nodes
        allreduce += ring(nodes, nbytes, latency, bandwidth)
        if workers // nodes != local_ranks:  # rank r's share lies partly on other nodes
            sync += local_ranks * share * (nodes - 1) / nodes * nbytes / bandwidth
    training = model["training_fixed_s"] + scale * model["training_s_per_token_per_rank"] * trained / ranks + allreduce
    step = generation + training + sync + model["other_s"]
    return dict(generation_s=generation, training_s=training, allreduce_s=allreduce, weight_sync_s=sync, step_s=step)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--nodes", default="1,2,4,8,16,32,64")
    parser.add_argument("--network-gb-s", type=float, default=1.25, help="inter-node bandwidth, GB/s (10 GbE: 1.25)")
    parser.add_argument("--network-latency-us", type=float, default=30.0)
    parser.add_argument("--node-learners", type=int, help="learner ranks per node (default: the most measured)")
    parser.add_argument("--node-workers", type=int, help="workers per node (default: the most measured)")
    parser.add_argument("--parameters", type=float, help="model size for the prediction (default: the measured)")
    parser.add_argument("--strong-prompts", type=int, default=256, help="global prompts per step, strong scaling")
    args = parser.parse_args()
    try:
        runs = read_csv(os.path.join(args.out, "runs.csv"))
        sweep = read_csv(os.path.join(args.out, "allreduce.csv"))
    except (OSError, ValueError, KeyError) as error:
        print(f"scaling_model.py: cannot read the measurements in {args.out}: {error}", file=sys.stderr)
        return 2
    if not runs or not sweep:
        print(f"scaling_model.py: {args.out}/runs.csv or allreduce.csv is empty", file=sys.stderr)
        return 2
    model = fit(runs, sweep)
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(model, f, indent=2)

    # Check against every measured point, each predicted by the model fitted
    # to the other points (leave-one-out), so the check is not the fit itself.
    check = []
    for index, r in enumerate(runs):
        others = runs[:index] + runs[index + 1:]
        held_out_model = fit(others, sweep) if len(others) >= 2 else model
        p = predict(held_out_model, int(r["ranks"]), int(r["workers"]), r["generated_tokens"], r["trained_tokens"])
        check.append(dict(kind=r["kind"], ranks=int(r["ranks"]), workers=int(r["workers"]), prompts=int(r["prompts"]),
                          measured_step_s=r["step_s"], predicted_step_s=p["step_s"],
                          relative_error=(p["step_s"] - r["step_s"]) / r["step_s"],
                          measured_generation_s=r["generation_s"], predicted_generation_s=p["generation_s"],
                          measured_training_s=r["training_s"], predicted_training_s=p["training_s"]))
    with open(os.path.join(args.out, "check.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(check[0]))
        writer.writeheader(); writer.writerows(check)
    print("| kind | ranks | workers | prompts | measured step s | model step s (fitted without this point) | error |")
    print("|---|---|---|---|---|---|---|")
    for c in check:
        print(f"| {c['kind']} | {c['ranks']} | {c['workers']} | {c['prompts']} | {c['measured_step_s']:.2f} | "
              f"{c['predicted_step_s']:.2f} | {100 * c['relative_error']:+.1f} % |")
    worst = max(abs(c["relative_error"]) for c in check)
    print(f"\nlargest |error| over {len(check)} measured points, each left out of its fit: {100 * worst:.1f} %")

    # Predict N nodes.
    node_learners = args.node_learners or int(max(r["ranks"] for r in runs))
    node_workers = args.node_workers or int(max(r["workers"] for r in runs))
    samples_per_prompt = runs[0]["samples"] / runs[0]["prompts"]
    weak = [r for r in runs if r["kind"] == "weak"]
    weak_prompts_per_rank = weak[0]["prompts"] / weak[0]["ranks"] if weak else 8
    tokens_per_sample_generated = runs[0]["generated_tokens"] / runs[0]["samples"]
    tokens_per_sample_trained = runs[0]["trained_tokens"] / runs[0]["samples"]
    network = (args.network_latency_us * 1e-6, args.network_gb_s * 1e9)
    rows = []
    for nodes in [int(n) for n in args.nodes.split(",")]:
        for kind, prompts in (("strong", args.strong_prompts),
                              ("weak", int(weak_prompts_per_rank * node_learners * nodes))):
            ranks, workers = node_learners * nodes, node_workers * nodes
            samples = int(prompts * samples_per_prompt)
            p = predict(model, ranks, workers, samples * tokens_per_sample_generated, samples * tokens_per_sample_trained,
                        args.parameters, nodes, network)
            rows.append(dict(kind=kind, nodes=nodes, ranks=ranks, workers=workers, prompts=prompts, **p,
                             samples_per_s=samples / p["step_s"]))
    for kind in ("strong", "weak"):
        base = next(r for r in rows if r["kind"] == kind)
        for r in rows:
            if r["kind"] == kind:
                r["efficiency"] = r["samples_per_s"] / (base["samples_per_s"] * r["nodes"] / base["nodes"])
    with open(os.path.join(args.out, "prediction.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader(); writer.writerows(rows)
    print(f"\nprediction: {node_learners} learner(s) + {node_workers} worker(s) per node, "
          f"{(args.parameters or model['parameters']) / 1e6:.1f}M parameters, network {args.network_gb_s} GB/s, "
          f"{args.network_latency_us} us")
    print("| kind | nodes | prompts | generation s | training s | of which all-reduce s | sync s | step s | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['nodes']} | {r['prompts']} | {r['generation_s']:.2f} | {r['training_s']:.2f} | "
              f"{r['allreduce_s']:.3f} | {r['weight_sync_s']:.3f} | {r['step_s']:.2f} | {100 * r['efficiency']:.0f} % |")
    plot(args.out, runs, check, rows)
    return 0


def plot(out, runs, check, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: plots skipped)", file=sys.stderr)
        return
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    labels = [f"{c['kind'][0]} r{c['ranks']} w{c['workers']} p{c['prompts']}" for c in check]
    x = range(len(check))
    parts = [("generation_s", "generation"), ("training_s", "training"), ("weight_sync_s", "weight sync")]
    bottom = [0.0] * len(runs)
    for key, name in parts:
        values = [r[key] for r in runs]
        axes[0].bar(x, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes[0].plot(list(x), [c["predicted_step_s"] for c in check], "k_", markersize=22, mew=2, label="model")
    axes[0].set_xticks(list(x)); axes[0].set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("seconds per step"); axes[0].set_title("measured split (bars) and model (lines)")
    axes[0].legend(fontsize=8)
    for kind, style in (("strong", "o-"), ("weak", "s--")):
        points = [r for r in rows if r["kind"] == kind]
        axes[1].plot([r["nodes"] for r in points], [r["step_s"] for r in points], style, label=f"{kind}: step s")
    axes[1].set_xscale("log", base=2); axes[1].set_yscale("log")
    axes[1].set_xlabel("nodes"); axes[1].set_ylabel("predicted seconds per step"); axes[1].grid(alpha=0.3)
    axes[1].set_title("prediction"); axes[1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(out, "scaling.png"))
    print(f"plot: {os.path.join(out, 'scaling.png')}")


if __name__ == "__main__":
    sys.exit(main())
