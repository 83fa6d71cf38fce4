"""Full-graph against neighbour-sampled training (``num_neighbors``) of one R-GCN.

    scripts/build_sampling_wheels.sh     # torch-sparse, once
    nice -n 10 .venv/bin/python benchmarks/kg_sampling.py [--graph ddb14|DIR ...] \\
        [--num-neighbors 10,10] [--budget-s 120]

For each graph (DDB14 from ``../shared/data/kg/ddb14``, or a triples folder such as
the ``split`` folder of a ``medgen kg train`` run) and each mode, a fresh process
builds the task (R-GCN dim 64, 2 layers, DistMult, softplus loss against 8
type-constrained negatives, batch 512, Adam lr 0.01, one torch thread) and measures:

* seconds per training step, median over ``--steps`` steps after two warm-up steps,
  split into drawing the batch (the DataLoader: negatives and, sampled, the subgraph)
  and the model step (forward, backward, Adam);
* the process's peak resident memory after those steps (ru_maxrss) and before them;
* the sampled subgraphs' mean size against the whole graph;
* with ``--budget-s`` > 0, the filtered validation MRR (full-graph inference) after
  training for that many wall seconds from a fresh model.

The machine's load average is recorded next to each mode: on a shared machine wall
times depend on what else runs. Writes ``benchmarks/results/kg_sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.linkpred.sampling import SampledBatch

ROOT = Path(__file__).resolve().parent.parent
DDB14 = ROOT.parent / "shared" / "data" / "kg" / "ddb14"
RESULTS = Path(__file__).resolve().parent / "results" / "kg_sampling.json"
SEED = 0
MODEL = dict(encoder="rgcn", encoder_options={"num_layers": 2, "dropout": 0.1},
             decoder="distmult", dim=64, loss="softplus", num_negatives=8, lr=0.01,
             batch_size=512, eval_batch_size=256)


def load(graph: str) -> TripleGraph:
    return TripleGraph.from_triples_dir(DDB14 if graph == "ddb14" else Path(graph))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(graph_name: str, num_neighbors: list[int] | None, steps: int,
            budget_s: float) -> dict[str, Any]:
    """One mode in this process (the parent starts one process per mode)."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*self.trainer. reference is not registered")
    torch.manual_seed(SEED)
    graph = load(graph_name)
    task = LinkPredictionTask(LinkPredictionConfig(**MODEL, num_neighbors=num_neighbors),
                              graph)
    optimizer = task.configure_optimizers()
    loader = task.train_dataloader()
    rss_setup = peak_rss_mb()

    def step(batch) -> None:
        optimizer.zero_grad()
        task.training_step(batch, 0).backward()
        optimizer.step()

    task.train()
    batches = iter(loader)
    draw, compute, nodes, edges = [], [], [], []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        step(batch)
        t2 = time.perf_counter()
        if i >= 2:  # warm-up steps left out
            draw.append(t1 - t0)
            compute.append(t2 - t1)
            if isinstance(batch, SampledBatch):
                nodes.append(len(batch.subgraph.nodes))
                edges.append(batch.subgraph.edge_index.size(1))
    out: dict[str, Any] = {
        "num_neighbors": num_neighbors, "steps": steps,
        "draw_s_median": round(statistics.median(draw), 4),
        "model_step_s_median": round(statistics.median(compute), 4),
        "step_s_median": round(statistics.median(d + c for d, c in zip(draw, compute,
                                                                       strict=True)), 4),
        "rss_mb_before_steps": round(rss_setup, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
        "graph_nodes": graph.num_nodes,
        "graph_edges_with_inverses": 2 * len(graph.train),
        "load_average_after_steps": load_average(),
    }
    if nodes:
        out["subgraph_nodes_mean"] = round(statistics.mean(nodes))
        out["subgraph_edges_mean"] = round(statistics.mean(edges))
    if budget_s > 0:
        out.update(train_for(graph, num_neighbors, budget_s))
    return out


def train_for(graph: TripleGraph, num_neighbors: list[int] | None, budget_s: float
              ) -> dict[str, Any]:
    """A fresh model trained for ``budget_s`` wall seconds, then its validation MRR."""
    torch.manual_seed(SEED)
    task = LinkPredictionTask(LinkPredictionConfig(**MODEL, num_neighbors=num_neighbors),
                              graph)
    optimizer = task.configure_optimizers()
    task.train()
    steps, epochs, cpu0, start = 0, 0, time.process_time(), time.perf_counter()
    loader = task.train_dataloader()
    while time.perf_counter() - start < budget_s:
        for batch in loader:
            optimizer.zero_grad()
            task.training_step(batch, steps).backward()
            optimizer.step()
            steps += 1
            if time.perf_counter() - start >= budget_s:
                break
        else:
            epochs += 1
    train_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    metrics = task.evaluate("valid").metrics()
    return {"budget_s": budget_s, "budget_steps": steps, "budget_full_epochs": epochs,
            "budget_train_s": round(train_s, 1), "budget_cpu_s": round(cpu_s, 1),
            "val_mrr": round(metrics["mrr"], 4), "val_hits@10": round(metrics["hits@10"], 4),
            "load_average_after_budget": load_average()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", nargs="+", default=["ddb14"],
                        help="ddb14, or folders of train/valid/test.txt (+ nodes.tsv)")
    parser.add_argument("--num-neighbors", default="10,10")
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--worker", nargs=2, metavar=("GRAPH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    fanouts = [int(k) for k in args.num_neighbors.split(",")]
    if args.worker:  # one mode, in a process of its own so that its peak memory is its own
        graph, mode = args.worker
        print(json.dumps(measure(graph, None if mode == "full" else fanouts, args.steps,
                                 args.budget_s)))
        return
    results: dict[str, Any] = {
        "command": " ".join(["benchmarks/kg_sampling.py", *sys.argv[1:]]),
        "model": MODEL, "threads": 1, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "platform": platform.platform(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "load_average_at_start": load_average(), "graphs": {}}
    for graph in args.graph:
        results["graphs"][graph] = {}
        for mode in ("full", "sampled"):
            cmd = [sys.executable, __file__, "--worker", graph, mode, "--num-neighbors",
                   args.num_neighbors, "--steps", str(args.steps), "--budget-s",
                   str(args.budget_s)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{graph} {mode} failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results["graphs"][graph][mode] = row
            print(graph, mode, json.dumps(row), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
