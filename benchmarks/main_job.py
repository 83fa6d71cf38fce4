"""The main job's own benchmark: `medgen run` as the README's first command runs it, on a
machine where the set-up has run (downloads and jars cached) but no model is trained.

Runs it twice in a throwaway state and cache folder with a managed Neo4j of its own (its
ports free ones): the first run from nothing, the second a rerun that should skip every
stage. Each run goes under ``/usr/bin/time -v``, which gives the medgen process's peak
memory; the job's own state file gives each stage's time and the peak of the medgen
process tree (Neo4j's JVM apart), and the server's JVM is measured apart.

    .venv/bin/python benchmarks/main_job.py [--profile demo]

Writes benchmarks/results/main_job.json (one row per run, with command, date, machine
and load average) and prints a table. Goals (issue 23): first run within 10 minutes on
2 cores with the medgen process tree at most 4 GB; a rerun under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "main_job.json"
GOALS = {"first_run_s": 600, "peak_tree_mb": 4096, "rerun_s": 60}


def machine() -> dict:
    return {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "platform": platform.platform(), "processor": platform.processor() or "?",
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def timed_run(env: dict, cwd: Path, profile: str) -> dict:
    medgen = Path(sys.executable).with_name("medgen")
    command = ["/usr/bin/time", "-v", str(medgen), "run", "--profile", profile]
    load = [round(x, 2) for x in os.getloadavg()]
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"medgen run failed:\n{proc.stdout}\n{proc.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    parts = [float(p) for p in wall.group(1).split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"wall_s": round(seconds, 1), "max_rss_mb_medgen_process": int(rss.group(1)) // 1024,
            "load_average_at_start": load, "stdout": proc.stdout.splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    args = parser.parse_args()
    from medgen.neo4j_server import ManagedServer, free_port

    with tempfile.TemporaryDirectory(prefix="medgen-mainjob-") as tmp:
        tmp = Path(tmp)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")},
               "MEDGEN_STATE_DIR": str(tmp / "state"),
               "MEDGEN_NEO4J_PORT": str(free_port()), "MEDGEN_NEO4J_HTTP_PORT": str(free_port()),
               # Neo4j's jars and the MOSES data stay in the real cache (set-up has run);
               # models the main job caches go to a fresh folder: nothing trained before
               "MEDGEN_MODEL_CACHE": str(tmp / "models")}
        rows = []
        for name in ("first", "rerun"):
            row = {"run": name, **timed_run(env, tmp, args.profile)}
            state = json.loads((tmp / "state" / "mainjob" / args.profile / "state.json")
                               .read_text())
            # the state file keeps each stage's first time: a skipped stage took no time now
            skipped = {s for s in state if f"{s}: finished before, skipped" in
                       "\n".join(row["stdout"])}
            row["stages"] = {s: {"seconds": r.get("seconds"), "peak_tree_mb": r.get("peak_mb"),
                                 "skipped": s in skipped,
                                 "summary": (r.get("outputs") or {}).get("summary")}
                             for s, r in state.items()}
            rows.append(row)
        os.environ.update({k: env[k] for k in ("MEDGEN_STATE_DIR", "MEDGEN_NEO4J_PORT",
                                               "MEDGEN_NEO4J_HTTP_PORT")})
        server = ManagedServer()
        pid = server.status().pid
        neo4j_mb = psutil.Process(pid).memory_info().rss // 2**20 if pid else None
        server.stop()
    first = rows[0]
    # the larger of the sampled process tree and time -v's figure for the medgen process
    peak_tree = max(first["max_rss_mb_medgen_process"],
                    *((s["peak_tree_mb"] or 0) for s in first["stages"].values()))
    result = {
        "command": f"benchmarks/main_job.py --profile {args.profile}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "profile": args.profile, "runs": rows,
        "neo4j_jvm_rss_mb_after": neo4j_mb,
        "goals": {"first_run_within_10_min": {"value_s": first["wall_s"],
                                              "met": first["wall_s"] <= GOALS["first_run_s"]},
                  "peak_tree_at_most_4_gb": {"value_mb": peak_tree,
                                             "met": peak_tree <= GOALS["peak_tree_mb"]},
                  "rerun_under_a_minute": {"value_s": rows[1]["wall_s"],
                                           "met": rows[1]["wall_s"] < GOALS["rerun_s"]}},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'stage':<14}{'first s':>9}{'peak MB':>9}{'rerun s':>9}")
    for stage, rec in first["stages"].items():
        again = rows[1]["stages"][stage]
        rerun = "skipped" if again["skipped"] else f"{again['seconds'] or 0:.0f}"
        print(f"{stage:<14}{rec['seconds'] or 0:>9.0f}{rec['peak_tree_mb'] or 0:>9}{rerun:>9}")
    for goal, verdict in result["goals"].items():
        print(f"{goal}: {verdict}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
