"""Diagnosis benchmark: ``Diagnoser`` (``medgen kg diagnose``) against pyhpo's HPO-set
similarity (graphic / funSimAvg, the peer's figures shipped with the patients) on the
simulated patients in ``../shared/data/diagnosis/``.

    .venv/bin/python benchmarks/diagnosis.py --run DIR [--budget-s 120] [--skip-b]

Protocol A (complete annotations) scores the 300 patients with the trained run ``DIR``.
Protocol B (30% of each candidate's annotations held out) rebuilds the run's own triples
without the held-out Disease-HAS_PHENOTYPE->Phenotype triples and without the
Gene-HAS_PHENOTYPE->Phenotype triples whose only support in ``genes_to_phenotype.txt``
is a held-out (disease, term) row, trains the run's model on that graph for
``--budget-s`` seconds (CPU) and scores the B patients. No Neo4j is needed: the run's
split files are the graph.

Candidates: the 6,235 OMIM diseases of the held-out split (>= 5 annotated terms under
HP:0000118; the same list for A and B). Ties count pessimistically: a patient's rank is
1 + the number of other candidates scoring >= the true disease. Prints a table and
writes benchmarks/results/diagnosis.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kg.linkpred import LinkPredictionTask, TripleGraph
from kg.sources.hpo import gene_phenotype_edges, gene_phenotype_rows
from medgen.kg_jobs import Diagnoser, JobConfig, read_job
from training import fit, seed_everything

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "diagnosis"
RESULTS = Path(__file__).resolve().parent / "results" / "diagnosis.json"


def evaluate(dx: Diagnoser, patients: list[dict], candidates: list[str]) -> dict:
    """Ranks (ties pessimistic) of each patient's disease among ``candidates``."""
    index = {d: i for i, d in enumerate(dx.disease_ids)}
    cand = np.zeros(len(dx.disease_ids), dtype=bool)
    cand[[index[c] for c in candidates if c in index]] = True
    ranks, missing, dropped_terms = [], 0, 0
    n_cand = int(cand.sum())
    t0 = time.perf_counter()
    for p in patients:
        true = index.get(f"OMIM:{p['omim']}")
        terms = [t for t in p["terms"] if t in dx.term_column]
        dropped_terms += len(p["terms"]) - len(terms)
        if true is None or not cand[true] or not terms:
            missing += 1
            ranks.append(n_cand)  # counted as last
            continue
        s = dx.scores(terms).numpy()
        s = np.where(cand, s, -np.inf)
        ranks.append(int((s >= s[true]).sum()))  # itself + every tie or better
    seconds = (time.perf_counter() - t0) / len(patients)
    r = np.array(ranks, dtype=float)
    return {"n": len(patients), "candidates_in_graph": n_cand,
            "candidates_missing_from_graph": len(candidates) - n_cand,
            "patients_missing_disease": missing, "terms_not_in_graph": dropped_terms,
            "top1": float(np.mean(r <= 1)), "top3": float(np.mean(r <= 3)),
            "top10": float(np.mean(r <= 10)), "mrr": float(np.mean(1 / r)),
            "ms_per_patient": round(seconds * 1000, 2)}


def protocol_b_graph(split: Path, out: Path, heldout: dict[str, list[str]]) -> dict:
    """The run's triples less the held-out annotations and the gene-phenotype edges that
    only they support; written to ``out`` in the split format."""
    held = {(f"OMIM:{d}", t) for d, terms in heldout.items() for t in terms}
    rows = gene_phenotype_rows()
    keep = [(d, t) not in held for d, t in zip(rows["disease"], rows["term"], strict=True)]
    full = gene_phenotype_edges(rows)
    kept = gene_phenotype_edges(rows[keep])
    lost = (set(zip(full["start"], full["end"], strict=True))
            - set(zip(kept["start"], kept["end"], strict=True)))
    out.mkdir(parents=True, exist_ok=True)
    removed = {"disease_annotations": 0, "gene_phenotype": 0}
    for name in ("nodes.tsv", "relations.tsv"):
        (out / name).write_text((split / name).read_text())
    for name in ("train.txt", "valid.txt", "test.txt"):
        lines = []
        for line in (split / name).read_text().splitlines():
            h, r, t = line.split("\t")
            if r == "HAS_PHENOTYPE" and (h, t) in held:
                removed["disease_annotations"] += 1
                continue
            if r == "HAS_PHENOTYPE" and (h, t) in lost:
                removed["gene_phenotype"] += 1
                continue
            lines.append(line)
        (out / name).write_text("\n".join(lines) + "\n")
    removed["heldout_pairs"] = len(held)
    removed["g2p_rows_dropped"] = int(len(rows) - sum(keep))
    removed["gene_phenotype_pairs_unsupported"] = len(lost)
    return removed


def train_b(run: Path, graph_dir: Path, work: Path, budget_s: float) -> tuple[Diagnoser, dict]:
    config = JobConfig.from_dict(read_job(run)["config"])
    graph = TripleGraph.from_triples_dir(graph_dir)
    run_dir = work / "b-run"
    run_dir.mkdir(parents=True)
    train_config = config.train_config(run_dir, validate=len(graph.valid) > 0)
    train_config.max_time_s = budget_s
    train_config.accelerator = "cpu"
    seed_everything(train_config.seed)
    task = LinkPredictionTask(config.model, graph)
    t0 = time.perf_counter()
    result = fit(task, None, train_config)
    seconds = time.perf_counter() - t0
    best = result.best_checkpoint or result.last_checkpoint
    task = LinkPredictionTask.load_from_checkpoint(best, map_location="cpu").attach(graph)
    task.eval()
    return Diagnoser(task, graph), {"epochs": result.epochs, "train_seconds": round(seconds, 1),
                                    "model": config.model.to_dict()
                                    if hasattr(config.model, "to_dict") else str(config.model)}


def row(name: str, m: dict) -> str:
    ms = f"{m['ms_per_patient']:.1f}" if m.get("ms_per_patient") is not None else "-"
    return (f"{name:<34}{m['top1']:>7.3f}{m['top3']:>7.3f}{m['top10']:>7.3f}"
            f"{m['mrr']:>7.3f}{ms:>10}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a trained run dir (model.ckpt)")
    ap.add_argument("--budget-s", type=float, default=120.0, help="Protocol B training time")
    ap.add_argument("--skip-b", action="store_true", help="report Protocol B as not run")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a_data = json.loads((DATA / "protocol_a_patients.json").read_text())
    b_data = json.loads((DATA / "protocol_b_split_and_patients.json").read_text())
    candidates = [f"OMIM:{d}" for d in b_data["heldout_split"]]

    result: dict = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                    "threads": args.threads, "load_average_at_start": round(os.getloadavg()[0], 2),
                    "run": str(args.run.resolve()), "candidates": len(candidates),
                    "ties": "pessimistic"}
    t0 = time.perf_counter()
    dx = Diagnoser.load(args.run)
    load_s = time.perf_counter() - t0
    a = evaluate(dx, a_data["patients"], candidates)
    result["protocol_a"] = {"ours": {**a, "noise": dx.noise, "observed": dx.observed,
                                     "load_seconds": round(load_s, 1)},
                            "pyhpo": a_data["peer"]}
    del dx

    if args.skip_b:
        result["protocol_b"] = {"status": "not run", "reason": "--skip-b given",
                                "pyhpo": b_data["peer"]}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            removed = protocol_b_graph(args.run / "split", Path(tmp) / "graph",
                                       b_data["heldout_split"])
            print(f"protocol B graph: {removed}", file=sys.stderr)
            dx_b, training = train_b(args.run, Path(tmp) / "graph", Path(tmp), args.budget_s)
            b = evaluate(dx_b, b_data["patients"], candidates)
        result["protocol_b"] = {"status": "run", "ours": {**b, "training": training,
                                                          "removed": removed,
                                                          "budget_s": args.budget_s},
                                "pyhpo": b_data["peer"]}

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n{'':<34}{'top1':>7}{'top3':>7}{'top10':>7}{'mrr':>7}{'ms/pt':>10}")
    print(row("A ours (diagnose)", result["protocol_a"]["ours"]))
    print(row("A pyhpo graphic/funSimAvg", {**a_data["peer"], "ms_per_patient": None}))
    if result["protocol_b"]["status"] == "run":
        print(row("B ours (diagnose)", result["protocol_b"]["ours"]))
    else:
        print(f"B ours: not run ({result['protocol_b']['reason']})")
    print(row("B pyhpo graphic/funSimAvg", {**b_data["peer"], "ms_per_patient": None}))
    print("pyhpo as shipped: about 6 to 12 s per patient (issue 4; not measured here)")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
