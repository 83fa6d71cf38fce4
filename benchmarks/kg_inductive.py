"""Inductive completion on DDB14: links of nodes the model never saw, predicted without
retraining, by the path GNN against a shallow model given each new node's vector as the
mean of its known neighbours' vectors (``kg.linkpred.inductive``, what `medgen kg
predict` does for a node added to Neo4j after training).

    .venv/bin/python benchmarks/kg_inductive.py [--budget 240] [--new 200] [--jobs 2]

Protocol. ``--new`` DDB14 entities with at least 4 links are drawn with seed 0 and
removed, with every triple that touches them, before training. Each model trains on
what is left, as in ``benchmarks/kg_completion.py`` (the same settings, validation
schedule and CPU-second budget, one torch thread). Then the removed nodes come back:
for each, half of its links (seeded, at least one) are added to the graph as known
facts (support), and the other half, those whose other end is a known node, are the
queries, ranked in both directions (the new node's partner; the new node among all
9,203 entities) with the filter of all DDB14 triples. The path GNN propagates over the
graph with the support links; the shallow model scores with the mean vectors.

Writes ``benchmarks/results/kg_inductive.json`` (command, date, hardware, per model: MRR,
Hits@1/3/10 over the queries, overall and by direction, training CPU seconds, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.kg_completion import hardware, load, run_ours, systems  # noqa: E402
from kg.linkpred import TripleGraph  # noqa: E402
from kg.linkpred.evaluation import FilterIndex, evaluate_ranking, ranking_metrics  # noqa: E402
from kg.linkpred.inductive import inductive_score_fn  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kg_inductive.json"
SEED = 0
MODELS = ("RotatE 1-N", "Path GNN (NBFNet/A*Net)")


class Split:
    """DDB14 without ``new`` of its nodes (re-indexed), and the graph with them back."""

    def __init__(self, new: int):
        full = load("ddb14")
        every = full.all_triples()
        degree = torch.bincount(every[:, [0, 2]].flatten(), minlength=full.num_nodes)
        generator = torch.Generator().manual_seed(SEED)
        eligible = torch.nonzero(degree >= 4).flatten()
        removed = eligible[torch.randperm(len(eligible), generator=generator)[:new]]
        is_new = torch.zeros(full.num_nodes, dtype=torch.bool)
        is_new[removed] = True
        touches = is_new[every[:, 0]] | is_new[every[:, 2]]
        support, queries = [], []
        for node in removed.tolist():
            mine = every[(every[:, 0] == node) | (every[:, 2] == node)]
            mine = mine[torch.randperm(len(mine), generator=generator)]
            half = max(1, len(mine) // 2)
            support.append(mine[:half])
            rest = mine[half:]
            # a query needs a known node at its other end (both ends new: support only)
            both_new = is_new[rest[:, 0]] & is_new[rest[:, 2]]
            support.append(rest[both_new])
            queries.append(rest[~both_new])
        self.queries = torch.unique(torch.cat(queries), dim=0)
        support_t = torch.unique(torch.cat(support), dim=0)
        # a link between two new nodes may be one node's support and the other's query
        self.queries = self.queries[~(self.queries[:, None, :] == support_t[None]).all(-1)
                                    .any(1)]
        old_train = full.train[~(is_new[full.train[:, 0]] | is_new[full.train[:, 2]])]
        self.now = torch.cat([old_train, support_t])  # the graph after the nodes came back
        self.node_ids = full.node_ids
        self.is_new = is_new
        self.every = every
        self.num_relations = full.num_relations
        self.removed, self.support = len(removed), len(support_t)
        keep = ~is_new
        index = torch.full((full.num_nodes,), -1, dtype=torch.long)
        index[keep] = torch.arange(int(keep.sum()))

        def local(t: torch.Tensor) -> torch.Tensor:
            t = t[~(is_new[t[:, 0]] | is_new[t[:, 2]])]
            return torch.stack([index[t[:, 0]], t[:, 1], index[t[:, 2]]], 1)

        self.train = TripleGraph(
            [n for n, k in zip(full.node_ids, keep.tolist(), strict=True) if k],
            torch.zeros(int(keep.sum()), dtype=torch.long), ["Entity"], full.relations,
            local(full.train), local(full.valid), local(full.test))
        self.dropped_triples = int(touches.sum())


def evaluate(split: Split, task) -> dict[str, Any]:
    """MRR and Hits over all query rankings, over those that ask for a new node's partner
    (``from_new``), and over those whose answer is the new node (``to_new``)."""
    batch = task.config.eval_batch_size
    report = evaluate_ranking(inductive_score_fn(task, split.node_ids, split.now),
                              split.queries,
                              FilterIndex(split.every, len(split.node_ids), split.num_relations),
                              batch_size=batch)
    # ranks come batch by batch, the tail queries (anchor: head) then the head queries
    from_new = torch.cat([torch.cat([split.is_new[b[:, 0]], split.is_new[b[:, 2]]])
                          for b in split.queries.split(batch)])

    def figures(ranks: torch.Tensor) -> dict[str, Any]:
        m = ranking_metrics(ranks)
        return {"mrr": m["mrr"], "hits": {k: m[f"hits@{k}"] for k in (1, 3, 10)},
                "rankings": len(ranks)}
    return {"both": figures(report.ranks), "from_new": figures(report.ranks[from_new]),
            "to_new": figures(report.ranks[~from_new])}


def run_one(name: str, budget: float, new: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    split = Split(new)
    spec = next(s for s in systems("ddb14") if s.name == name)
    c0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="kg-inductive-") as tmp:
        rows = run_ours(spec, split.train, "ddb14", [budget], Path(tmp), "cpu",
                        evaluate=lambda task: evaluate(split, task))
    return {"system": name, "settings": spec.settings, **rows[0],
            "process_cpu_s": time.process_time() - c0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "removed_nodes": split.removed, "support_links": split.support,
            "query_links": len(split.queries), "dropped_triples": split.dropped_triples,
            "load_average_start": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=240.0, help="training CPU seconds")
    ap.add_argument("--new", type=int, default=200, help="nodes removed and added back")
    ap.add_argument("--jobs", type=int, default=2, help="models trained at once")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_one:
        print("ROW " + json.dumps(run_one(args.run_one, args.budget, args.new), default=str))
        return 0

    def one(name: str) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, __file__, "--run-one", name, "--budget",
                               str(args.budget), "--new", str(args.new)],
                              capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("ROW ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
        return json.loads(line[4:])

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one, MODELS))
    result = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "hardware": hardware(), "budget_s": args.budget, "clock": "cpu",
              "rows": rows}
    OUT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"{'model':<26} {'MRR':>6} {'H@10':>6} {'new -> ?':>9} {'? -> new':>9}")
    for r in rows:
        if "both" not in r:  # the budget ended before the first validation
            print(f"{r['system']:<26} no weights: the budget is shorter than one validation "
                  "interval")
            continue
        print(f"{r['system']:<26} {r['both']['mrr']:6.3f} {r['both']['hits']['10']:6.3f} "
              f"{r['from_new']['mrr']:9.3f} {r['to_new']['mrr']:9.3f}")
    print(f"{rows[0]['removed_nodes']} nodes removed, {rows[0]['support_links']} support "
          f"links added back, {rows[0]['query_links']} query links; wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
