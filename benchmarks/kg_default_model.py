"""Which shallow model ``medgen kg train`` should default to: candidates trained the way
the product trains them, on the default HPO graph's own split, scored on its held-out
gene-disease links.

    medgen kg build --bulk && medgen kg train --out /tmp/hpo/default
    nice -n 5 .venv/bin/python benchmarks/kg_default_model.py --split /tmp/hpo/default/split
    .venv/bin/python benchmarks/kg_default_model.py --report-only

``benchmarks/kg_completion.py`` compares models at fixed CPU budgets with one torch
thread; this script answers the product's question instead: what does a user get from
``medgen kg train`` (its engine defaults: at most 30 epochs, early stopping after 5
epochs without a better validation MRR, best weights restored, torch's default threads)
and from ``medgen run``'s demo profile (the same, cut at 120 s of training), with each
candidate model. Training, checkpoint choice and the test evaluation are the job's own
(``JobConfig.train_config``, ``training.fit``, ``LinkPredictionTask.evaluate``: filtered,
both directions, each query's answers ranked among the node types its relation links).
No Neo4j is needed: the split folder is the graph ``kg train`` exported.

Each (candidate, profile) row trains in its own process (its peak memory is its own) and
records test MRR and Hits, epochs, the training wall and CPU seconds, peak memory, the
load average, the command, date and hardware. Rows are written as they finish; a re-run
skips rows already in the JSON. Writes ``benchmarks/results/kg_default_model.{json,md}``.
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg_completion import hardware  # noqa: E402

from kg.linkpred import LinkPredictionTask, TripleGraph  # noqa: E402
from medgen.kg_jobs import JobConfig  # noqa: E402
from training import fit, seed_everything  # noqa: E402
from training.quiet import quiet_lightning  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "kg_default_model.json"
TARGET = "ASSOCIATED_WITH"


# kg train's default model until 2026-12-07; every candidate is this with a few fields
# changed (spelt out, so the rows stay reproducible whatever the default is now)
BASE: dict[str, Any] = dict(encoder="none", decoder="complex", dim=32, loss="softplus",
                            num_negatives=4, adversarial_temperature=1.0, lr=0.05,
                            batch_size=8192, eval_batch_size=256, reciprocal=False)


def candidates() -> dict[str, dict[str, Any]]:
    """Model settings by name."""
    return {
        "ComplEx dim 32 (default until 2026-12-07)": BASE,
        "ComplEx dim 128": {**BASE, "dim": 128},
        "RotatE dim 128, lr 0.01": {**BASE, "decoder": "rotate", "dim": 128, "lr": 0.01},
        "RotatE dim 64, lr 0.01": {**BASE, "decoder": "rotate", "dim": 64, "lr": 0.01},
    }


# engine settings on top of kg train's own defaults (TRAIN_DEFAULTS)
PROFILES: dict[str, dict[str, Any]] = {
    "kg train": {},
    "medgen run demo (120 s)": {"max_time_s": 120},
}


def run_one(split: Path, name: str, profile: str) -> dict[str, Any]:
    graph = TripleGraph.from_triples_dir(split)
    config = JobConfig(model=candidates()[name], train=PROFILES[profile])
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kg-default-") as tmp:
        train_config = config.train_config(Path(tmp) / "run")
        seed_everything(train_config.seed)
        task = LinkPredictionTask(config.model, graph)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        with quiet_lightning():
            result = fit(task, None, train_config)
        train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        task = LinkPredictionTask.load_from_checkpoint(result.best_checkpoint,
                                                       map_location="cpu").attach(graph)
        report = task.evaluate("test").to_dict()
    target = report["per_relation"][TARGET]
    return {"system": name, "profile": profile, "settings": asdict(config.model),
            "engine": {k: v for k, v in asdict(train_config).items()
                       if k in ("max_epochs", "max_time_s", "patience", "monitor")},
            "mrr": target["both"]["mrr"], "hits@1": target["both"]["hits@1"],
            "hits@10": target["both"]["hits@10"], "mrr_head": target["head"]["mrr"],
            "mrr_tail": target["tail"]["mrr"], "test_triples": target["both"]["count"] // 2,
            "epochs": result.epochs, "best_val_mrr": result.best_score,
            "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "torch_threads": torch.get_num_threads(), "load_average_start": load_start,
            "data": {"split": str(split), "nodes": graph.num_nodes,
                     "train": len(graph.train), "valid": len(graph.valid),
                     "test": len(graph.test)}}


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def report(data: dict[str, Any]) -> str:
    lines = ["| profile | model | test MRR | Hits@10 | epochs | training wall s | CPU s | "
             "peak MB |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(data["rows"], key=lambda r: (r["profile"], -r["mrr"])):
        lines.append(f"| {r['profile']} | {r['system']} | {_f(r['mrr'])} | "
                     f"{_f(r['hits@10'])} | {r['epochs']} | {r['train_wall_s']:.0f} | "
                     f"{r['train_cpu_s']:.0f} | {r['peak_rss_mb']:,} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, help="a kg train run's split/ folder")
    ap.add_argument("--systems", nargs="+", default=None, help="candidate names (default all)")
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--again", action="store_true",
                    help="train rows already in the JSON again (a later row replaces one)")
    ap.add_argument("--run-one", nargs=2, metavar=("SYSTEM", "PROFILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_one:
        print("ROW " + json.dumps(run_one(args.split.resolve(), *args.run_one), default=str),
              flush=True)
        return 0
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {
        "rows": []}
    if not args.report_only:
        if args.split is None or not (args.split / "train.txt").is_file():
            sys.exit("give --split: the split/ folder of a `medgen kg train` run")
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        for profile in args.profiles:
            for name in args.systems or list(candidates()):
                if not args.again and any(r["system"] == name and r["profile"] == profile
                                          for r in data["rows"]):
                    print(f"{profile} / {name}: in {args.out.name} already, skipped")
                    continue
                print(f"{profile} / {name}: training", flush=True)
                proc = subprocess.run([sys.executable, __file__, "--split", str(args.split),
                                       "--run-one", name, profile],
                                      capture_output=True, text=True)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("ROW ")),
                            None)
                if proc.returncode != 0 or line is None:
                    print(f"{profile} / {name} FAILED:\n{proc.stderr[-3000:]}", flush=True)
                    continue
                row = {**json.loads(line[4:]), "command": command, "hardware": hardware(),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                data["rows"] = [r for r in data["rows"] if not (
                    r["system"] == name and r["profile"] == profile)] + [row]
                args.out.write_text(json.dumps(data, indent=1) + "\n")
                print(f"  MRR {_f(row['mrr'])}, {row['epochs']} epochs, "
                      f"{row['train_wall_s']:.0f} s", flush=True)
    table = report(data)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
