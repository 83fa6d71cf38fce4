"""Wall time and peak memory of `medgen mol evaluate`, cold and warm, with its metrics.

    .venv/bin/python benchmarks/mol_evaluate.py --label after [--cases cold-3000 warm-3000
        warm-30000] [--repeats 3] [--pythonpath DIR] [--work DIR]

Input: MOSES test-set molecules (``molgen.moses_data.moses_smiles("test")``), a
seed-0 sample of 30,000; the 3,000 case is its first 3,000. Each case runs the
real command, ``medgen mol evaluate FILE --format json``, in a subprocess under
``/usr/bin/time -v`` with ``MEDGEN_CACHE_DIR`` pointing at the label's own cache
folder under ``--work``:

- ``cold-3000``: that folder emptied first. With the ``prepare`` step (labels
  whose code has ``scripts/prepare_moses.py``) the preparation is timed as its
  own row, then the evaluation; older code prepares inside the command. Repeated
  ``--repeats`` times, each from an emptied folder (the machine is noisy); the try
  with the median preparation stands for the case and every try is kept.
- ``warm-3000`` / ``warm-30000``: the folder as the cold case left it, repeated
  ``--repeats`` times; the report quotes the median.

Peak memory is given twice: ``peak_rss_mb`` is ``/usr/bin/time``'s maximum
resident set size, the largest single process of the tree; ``peak_tree_rss_mb``
is the largest sum over the command and its worker processes, sampled every
0.1 s with psutil. ``--pythonpath`` runs another checkout's code (e.g. an
export of the commit before the change, for the "before" rows) through the same
venv. Rows go into benchmarks/results/mol_evaluate.json under the label,
replacing that label's earlier rows of the same case; the file also records the
command, date, hardware and load average, because the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "mol_evaluate.json"
MEDGEN = Path(sys.executable).parent / "medgen"
CASES = ("cold-3000", "warm-3000", "warm-30000")
SEED = 0


def hardware() -> dict:
    freq = psutil.cpu_freq()
    return {
        "cpu": _cpu_model(),
        "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_mhz": round(freq.max or freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def inputs(work: Path) -> dict[int, Path]:
    """The 30,000- and 3,000-molecule input files, written once into ``work``."""
    paths = {n: work / f"moses_test_seed{SEED}_{n}.smi" for n in (3000, 30_000)}
    if not all(p.is_file() for p in paths.values()):
        from molgen import moses_data

        sample = random.Random(SEED).sample(moses_data.moses_smiles("test"), 30_000)
        for n, path in paths.items():
            path.write_text("\n".join(sample[:n]) + "\n")
    return paths


def timed(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command`` under /usr/bin/time -v; wall time, peak RSS and its stdout."""
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *command], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:  # the sum over the tree: time -v only sees its largest member
        nonlocal peak_tree
        root = psutil.Process(proc.pid)
        while not stop.wait(0.1):
            total = 0
            try:
                for child in root.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            peak_tree = max(peak_tree, total)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", stderr)
    return {
        "command": shlex.join(command),
        "wall_s": round(wall, 2),
        # user + system over the command and its workers: less sensitive to the
        # shared machine's load than wall time
        "cpu_s": round(float(user.group(1)) + float(system.group(1)), 1) if user and system
        else None,
        "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
        "peak_tree_rss_mb": round(peak_tree / 2**20),
        "load_average_before": [round(x, 2) for x in load],
        "stdout": stdout,
        # a failed run is a result too (e.g. killed by the kernel for memory: 137)
        "returncode": proc.returncode,
        **({"stderr_tail": stderr[-1500:]} if proc.returncode else {}),
    }


def evaluate(path: Path, env: dict[str, str]) -> dict:
    row = timed([str(MEDGEN), "mol", "evaluate", str(path), "--format", "json"], env)
    # the command prints its JSON to stdout; progress goes to stderr
    stdout = row.pop("stdout")
    row["metrics"] = json.loads(stdout)["metrics"] if row["returncode"] == 0 else None
    return row


def prepare(env: dict[str, str], pythonpath: Path) -> dict | None:
    script = pythonpath / "scripts" / "prepare_moses.py"
    if not script.is_file():
        return None  # code from before the preparation step: the command prepares itself
    row = timed([sys.executable, str(script)], env)
    row.pop("stdout")
    if row["returncode"] != 0:
        raise SystemExit(f"preparation failed:\n{row['stderr_tail']}")
    return row


def _metrics_of(row: dict) -> dict | None:
    if "evaluate" in row:
        return row["evaluate"]["metrics"]
    return next((r["metrics"] for r in row.get("runs", []) if r["metrics"]), None)


def compare(results: dict, work: Path) -> dict:
    """Each case's metrics, before against after, and the two canonical training sets."""
    runs = results.get("runs", {})
    previous = results.get("before_after", {})
    out: dict = {}
    for case in CASES:
        before, after = (runs.get(label, {}).get(case) for label in ("before", "after"))
        if not (before and after):
            continue
        old, new = _metrics_of(before), _metrics_of(after)
        if old is None or new is None:
            out[case] = {"identical": None, "why": "a side has no successful run"}
            continue
        diffs = {k: None if old[k] is None else abs(new[k] - old[k]) for k in old}
        out[case] = {
            "identical": old == new,
            "identical_to_4_decimals": all(
                (old[k] is None and new[k] is None) or round(old[k], 4) == round(new[k], 4)
                for k in old),
            "abs_diff": {k: d for k, d in diffs.items() if d},  # only those that differ
        }
    # the set Novelty compares with: the old code's canonical list against the new hashes
    # (measured while both caches existed; kept when a later run no longer has them)
    if "train_canonical_set" in previous:
        out["train_canonical_set"] = previous["train_canonical_set"]
    old_lists = sorted(work.glob("cache-before/moses/decoded-*/train.canonical-rdkit*.txt"))
    new_sets = sorted(work.glob("cache-after/moses/decoded-*/train.canonical-rdkit*.npy"))
    if old_lists and new_sets:
        import numpy as np

        from molgen.moses_data import HashedSmiles

        old_set = HashedSmiles.from_smiles(old_lists[-1].read_text().splitlines())
        new_set = np.load(new_sets[-1])
        out["train_canonical_set"] = {
            "old_file": str(old_lists[-1]), "new_file": str(new_sets[-1]),
            "distinct": [len(old_set), len(new_set)],
            "identical": bool(np.array_equal(old_set.hashes, new_set)),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True, help="e.g. before / after")
    ap.add_argument("--cases", nargs="*", choices=CASES, default=list(CASES),
                    help="none: only compare the rows already written")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per case (cold: each from an emptied cache)")
    ap.add_argument("--pythonpath", type=Path, default=ROOT,
                    help="checkout whose code runs (default: this one)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mol_evaluate")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    files = inputs(args.work)
    cache = args.work / f"cache-{args.label}"
    env = dict(os.environ, MEDGEN_CACHE_DIR=str(cache), PYTHONPATH=str(args.pythonpath.resolve()))
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    command = shlex.join([".venv/bin/python", *sys.argv])
    results.update(command=command,
                   date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                   hardware=hardware(),
                   input=f"MOSES test set (molsets 0.3.1), random.Random({SEED}).sample of "
                         "30,000; the 3,000 case is its first 3,000")
    rows = results.setdefault("runs", {}).setdefault(args.label, {})
    for case in args.cases:
        n = int(case.split("-")[1])
        row: dict = {"benchmark_command": command,
                     "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "hardware": hardware(), "molecules": n}
        if case.startswith("cold"):
            tries = []
            for _ in range(args.repeats):
                shutil.rmtree(cache, ignore_errors=True)
                tries.append({"prepare": prepare(env, args.pythonpath),
                              "evaluate": evaluate(files[n], env)})
            # the try with the median preparation stands for the case; all are kept
            middle = sorted(tries, key=lambda t: (t["prepare"] or {}).get("wall_s", 0))
            row.update(middle[(len(tries) - 1) // 2], tries=tries)
            if all(t["prepare"] for t in tries):
                row["median_prepare_wall_s"] = statistics.median(
                    t["prepare"]["wall_s"] for t in tries)
        else:
            runs = [evaluate(files[n], env) for _ in range(args.repeats)]
            if any(r["metrics"] != runs[0]["metrics"] for r in runs if r["returncode"] == 0):
                raise SystemExit(f"{case}: the metrics differ between repeats")
            row["runs"] = runs
            row["median_wall_s"] = statistics.median(r["wall_s"] for r in runs)
            row["median_peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs)
            row["median_peak_tree_rss_mb"] = statistics.median(
                r["peak_tree_rss_mb"] for r in runs)
            if all(r.get("cpu_s") is not None for r in runs):
                row["median_cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
        rows[case] = row
        results["before_after"] = compare(results, args.work)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")  # after each case
        timing = row.get("evaluate") or {"wall_s": row["median_wall_s"]}
        if any(r.get("returncode") for r in row.get("runs", [row.get("evaluate", {})])):
            print(f"{args.label} {case}: a run failed, recorded with its exit status")
        print(f"{args.label} {case}: {timing['wall_s']} s", flush=True)
    results["before_after"] = compare(results, args.work)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["before_after"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
