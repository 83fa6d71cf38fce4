"""The imaging GAN on BreastMNIST and on the PneumoniaMNIST subset: train on the shared
engine within a wall-clock budget, then FID / KID of generated against test images beside
the real floor (train against test, same sizes), the memorised share, and the
train-synthetic-test-real AUC beside the real-trained AUC.

    nice -n 5 .venv/bin/python benchmarks/imaging_gan.py --set breastmnist --max-time 1200

Writes (merges by set) ``benchmarks/results/imaging_gan.json`` and pictures into
``benchmarks/results/imaging/<set>/``, and prints a table. Every figure comes from the
run itself; goals not met are written as not met.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images"
RESULTS = ROOT / "benchmarks" / "results"
SETS = {
    "breastmnist": ("BreastMNIST", DATA / "breastmnist.npz"),
    "pneumonia-subset": ("PneumoniaMNIST subset (3,882 of 4,708 training images)",
                         DATA / "pneumoniamnist-subset.npz"),
}
NOTES = ("Training is bounded by a wall-clock budget on one torch thread (--threads 1), so "
         "the budget is also its CPU time; each row gives the machine's load averages before "
         "and after its run: a loaded machine buys fewer optimiser steps in the same budget.")


def hardware() -> dict:
    freq = psutil.cpu_freq()
    return {"processor": platform.processor() or platform.machine(),
            "logical_cpus": psutil.cpu_count(logical=True),
            "physical_cpus": psutil.cpu_count(logical=False),
            "cpu_mhz": round(freq.current) if freq else None,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def rows_of(doc: dict) -> list[dict]:
    """The rows as a list (an early version of this script kept a dict keyed by set)."""
    rows = doc.get("rows", [])
    if isinstance(rows, dict):
        rows = [{"key": key, **row} for key, row in rows.items()]
    for row in rows:  # the headline a reader (medgen's report) takes without digging
        row.setdefault("data", row.get("set"))
        row.setdefault("fid_ratio", row["figures"]["fid_ratio"])
        training = row["training"]
        if "task" in training:  # recorded since 2026-12-08
            training["batches"] = training["optimizer_steps"] // (
                training["task"]["d_steps"] + 1)
            training["optimizer_steps_note"] = (
                "Lightning counts every optimiser step: d_steps discriminator steps and one "
                "generator step a batch")
    return rows


def merge_row(path: Path, key: str, row: dict | None) -> dict:
    """Put ``row`` under ``key`` in the JSON file, under a lock (both sets may run at once);
    None only normalises the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc.setdefault("benchmark", "imaging GAN: realism, memorisation, usefulness")
        doc["notes"] = NOTES
        rows = [r for r in rows_of(doc) if row is None or r["key"] != key]
        if row is not None:
            rows.append({"key": key, **row})
        doc["rows"] = rows_of({"rows": sorted(rows, key=lambda r: list(SETS).index(r["key"]))})
        path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def write_page(doc: dict, path: Path) -> None:
    """A figures page beside the pictures (linked from the README), made from the JSON."""
    lines = ["# Imaging GAN: benchmark figures and pictures", "",
             "Written by `benchmarks/imaging_gan.py` from `benchmarks/results/imaging_gan.json`"
             "; every figure below is copied from that file.", "", doc["notes"], ""]
    for row in doc["rows"]:
        f, t = row["figures"], row["training"]
        lines += [f"## {row['set']}", "",
                  f"`{row['command']}` on {row['date']}; trained by "
                  f"`{row.get('trained_by', 'that command')}`: {t['epochs']} epochs, "
                  f"{t['optimizer_steps']} optimiser steps ({t.get('batches', '?')} "
                  f"batches of {t['batch_size']}) within a "
                  f"{row['budget']['max_train_seconds']:.0f} s fit budget; the training job "
                  f"took {t['train_seconds']:.0f} s with the monitor's real features and the "
                  "final val_kid; model: "
                  f"{t['checkpoint']}; {settings(t)}; load average before / after "
                  f"{row['load_average_1_5_15']['before']} / "
                  f"{row['load_average_1_5_15']['after']}.", "",
                  "| figure | value |", "|---|---|",
                  f"| FID generated vs test | {fmt(f['fid'], '.2f')} |",
                  f"| FID floor, train vs test (same sizes) | "
                  f"{fmt(f['fid_floor_train_vs_test'], '.2f')} |",
                  f"| FID ratio | {fmt(f['fid_ratio'], '.2f')} |",
                  f"| KID generated vs test | {fmt(f['kid']['mean'], '.4f')} |",
                  f"| KID floor | {fmt(f['kid_floor_train_vs_test']['mean'], '.4f')} |",
                  f"| memorised share (Inception / pixels) | "
                  f"{fmt(f['memorised_share_inception']['share'], '.3f')} / "
                  f"{fmt(f['memorised_share_pixels']['share'], '.3f')} |",
                  f"| TSTR AUC / real-trained AUC | {fmt(f['tstr_auc'])} / "
                  f"{fmt(f['real_auc'])} |",
                  f"| sizes | {f['sizes']} |", ""]
        lines += [f"- goal {name}: {'met' if g['met'] else 'NOT met'} "
                  f"(value {fmt(g['value'])})" for name, g in row["goals"].items()]
        lines.append("")
        for picture in row["pictures"]:
            lines.append(f"![{Path(picture).stem}]({(ROOT / picture).relative_to(path.parent)})")
        lines.append("")
    path.write_text("\n".join(lines))


def settings(training: dict) -> str:
    task = training.get("task")
    if task is None:
        return "training settings not recorded"
    return (f"Adam lr {task['lr_g']:g} / {task['lr_d']:g} (generator / discriminator), "
            f"{task['d_steps']} discriminator step(s) a batch, augmentation "
            f"{task['augment'] or 'none'}")


def fmt(value, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(doc: dict) -> None:
    head = (f"{'set':<18} {'FID':>8} {'floor':>8} {'ratio':>6} {'KID':>8} {'KIDfloor':>8} "
            f"{'memor.':>7} {'TSTR':>6} {'real':>6} {'train s':>8} {'goals met':>10}")
    print(head)
    print("-" * len(head))
    for row in doc["rows"]:
        key, f = row["key"], row["figures"]
        met = sum(g["met"] for g in row["goals"].values())
        print(f"{key:<18} {fmt(f['fid'], '.1f'):>8} {fmt(f['fid_floor_train_vs_test'], '.1f'):>8} "
              f"{fmt(f['fid_ratio'], '.2f'):>6} {fmt(f['kid']['mean'], '.4f'):>8} "
              f"{fmt(f['kid_floor_train_vs_test']['mean'], '.4f'):>8} "
              f"{fmt(100 * f['memorised_share'], '.1f'):>6}% {fmt(f['tstr_auc']):>6} "
              f"{fmt(f['real_auc']):>6} {fmt(row['training']['train_seconds'], '.0f'):>8} "
              f"{met}/{len(row['goals']):>8}")


def run_set(key: str, args: argparse.Namespace) -> dict:
    from imaging.classifier import ClassifierConfig
    from imaging.evaluation import EvaluationConfig
    from medgen import img_jobs

    name, path = SETS[key]
    config = img_jobs.ImgJobConfig(data=str(path), resolution=args.resolution,
                                   max_epochs=args.epochs, max_time_s=args.max_time,
                                   batch_size=args.batch_size, channels=args.channels,
                                   seed=args.seed, monitor_samples=args.monitor_samples,
                                   monitor_every_steps=args.monitor_every_steps)
    load_before = os.getloadavg()
    started = time.monotonic()
    if args.evaluate_run is not None:  # a run this script trained before: evaluate it only
        run_dir = args.evaluate_run
        record = img_jobs.read_job(run_dir)
        if record.get("status") != "trained" or record["config"]["data"] != str(path):
            raise SystemExit(f"{run_dir} is not a finished run on {path}")
        train_wall = None
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        run_dir = img_jobs.imaging_dir() / "benchmark-runs" / f"{stamp}-{key}"
        record = img_jobs.train_job(config, run_dir=run_dir, progress_bar=False,
                                    log=lambda m: print(f"[{key}] {m}", flush=True))
        train_wall = time.monotonic() - started
    saved = record["config"]

    last = [0.0]

    def progress(what: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"[{key}] {what}: {done}/{total}", flush=True)

    evaluation_started = time.monotonic()
    report = img_jobs.evaluate_job(run_dir, config=EvaluationConfig(
        max_compare=args.max_compare, seed=args.seed,
        classifier=ClassifierConfig(epochs=args.classifier_epochs)), progress=progress)
    evaluation_wall = time.monotonic() - evaluation_started

    pictures = RESULTS / "imaging" / key
    if pictures.exists():
        shutil.rmtree(pictures)
    pictures.mkdir(parents=True)
    for png in sorted((run_dir / img_jobs.EVALUATION_DIR).glob("*.png")):
        shutil.copyfile(png, pictures / png.name)
    figures = {k: v for k, v in report.items() if k not in ("goals", "run", "pictures")}
    return {
        "set": name,
        "command": "nice -n 5 .venv/bin/python " + shlex.join(sys.argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "hardware": hardware(),
        "load_average_1_5_15": {"before": [round(x, 2) for x in load_before],
                                "after": [round(x, 2) for x in os.getloadavg()]},
        "trained_by": args.trained_by or "this command",
        "budget": {"max_train_seconds": saved["max_time_s"], "max_epochs": saved["max_epochs"],
                   "device": "cuda" if torch.cuda.is_available() else "cpu"},
        "training": {"epochs": record["epochs"], "optimizer_steps": record["optimizer_steps"],
                     "batch_size": saved["batch_size"], "channels": saved["channels"],
                     "resolution": saved["resolution"],
                     "monitor_samples": saved["monitor_samples"],
                     "monitor_every_steps": saved["monitor_every_steps"],
                     "started": record.get("started"), "finished": record.get("finished"),
                     "task": record["task"],
                     "checkpoint": record["checkpoint"],
                     "best_val_kid": record["best_val_kid"],
                     "train_seconds": record["train_seconds"], "train_wall_seconds": train_wall},
        "evaluation_wall_seconds": evaluation_wall,
        "evaluation": {"max_compare": args.max_compare,
                       "classifier_epochs": args.classifier_epochs},
        "figures": figures,
        "goals": report["goals"],
        "pictures": sorted(str(p.relative_to(ROOT)) for p in pictures.glob("*.png")),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=[*SETS, "all"], default="all")
    parser.add_argument("--max-time", type=float, default=1200.0,
                        help="training wall-clock budget per set, seconds (default 1200)")
    parser.add_argument("--epochs", type=int, default=10_000)
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--max-compare", type=int, default=1000,
                        help="images per set in FID/KID (Inception costs ~0.3 s an image)")
    parser.add_argument("--monitor-samples", type=int, default=64,
                        help="generated images per val_kid check (training-time monitor)")
    parser.add_argument("--monitor-every-steps", type=int, default=400)
    parser.add_argument("--classifier-epochs", type=int, default=20,
                        help="epochs of the usefulness classifier (generated and real)")
    parser.add_argument("--evaluate-run", type=Path, default=None,
                        help="evaluate this finished run of the --set instead of training")
    parser.add_argument("--trained-by", default=None,
                        help="with --evaluate-run: the command that trained it, for the row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "imaging_gan.json")
    parser.add_argument("--print-only", action="store_true",
                        help="run nothing: tidy the JSON, print its table, rewrite the page")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.evaluate_run is not None and args.set == "all":
        parser.error("--evaluate-run needs one --set")
    if args.print_only:
        doc = merge_row(args.out, "", None)
    else:
        for key in (list(SETS) if args.set == "all" else [args.set]):
            doc = merge_row(args.out, key, run_set(key, args))
    print_table(doc)
    write_page(doc, RESULTS / "imaging" / "README.md")


if __name__ == "__main__":
    main()
