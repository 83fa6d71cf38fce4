"""The fault-injection table: runs ``tests/faults`` (real processes, a real Neo4j of its
own, SIGKILLs) ``--repeat`` times and tabulates what each fault cost: the tries and where
each kill landed, data lost and duplicates (the worst try), and for killed training the
resumed metric beside the uninterrupted one.

    .venv/bin/python benchmarks/faults.py [--repeat 1]

The tests record what they measured (the ``fault_log`` fixture) before asserting on it,
so a failing try is in the table too. Writes ``benchmarks/results/faults.json`` and
prints the table; exits non-zero when a test failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
PAGE = RESULTS.with_suffix(".md")


def run_suite(log: Path, junit: Path) -> int:
    env = {**os.environ, "MEDGEN_FAULT_LOG": str(log), "CI": "true"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/faults", f"--junitxml={junit}"], cwd=ROOT, env=env).returncode


def outcomes(junit: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        result[name] = "skipped" if case.find("skipped") is not None else (
            "failed" if failed else "passed")
    return result


def table(rows: list[dict]) -> list[dict]:
    """One line per fault: tries, and the worst of what was lost over them."""
    by_fault: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_fault[row["fault"]].append(row)
    lines = []
    for fault, tries in by_fault.items():
        line = {"fault": fault, "tries": len(tries),
                "where": [t["where"] for t in tries if "where" in t],
                "lost": max(t.get("lost", 0) for t in tries),
                "duplicates": max(t.get("duplicates", 0) for t in tries)}
        if "metric" in tries[0]:
            line |= {"metric": tries[0]["metric"], "tolerance": tries[0]["tolerance"],
                     "resumed": [t["resumed"] for t in tries],
                     "uninterrupted": [t["uninterrupted"] for t in tries]}
        lines.append(line)
    return lines


def metric_cell(line: dict) -> str:
    if "metric" not in line:
        return ""
    pairs = ", ".join(f"{r:.4f} / {u:.4f}"
                      for r, u in zip(line["resumed"], line["uninterrupted"], strict=True))
    return f"{line['metric']}: {pairs} (tolerance {line['tolerance']})"


def write_page(result: dict) -> None:
    """The table as Markdown beside the JSON (docs/reliability.md links to it)."""
    lines = ["# Fault injection: what each fault cost", "",
             f"Written by `{result['command']}` on {result['date']} "
             f"({result['machine']['cpus']} CPUs, load average "
             f"{result['machine']['load_average']}); tests {result['tests']}.", "",
             "| fault | tries | killed at | data lost | duplicates | resumed / uninterrupted |",
             "| --- | ---: | --- | ---: | ---: | --- |"]
    lines += [f"| {line['fault']} | {line['tries']} | {'; '.join(line['where'])} "
              f"| {line['lost']} | {line['duplicates']} | {metric_cell(line)} |"
              for line in result["table"]]
    PAGE.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole fault suite")
    args = parser.parse_args()
    rows, runs = [], []
    with tempfile.TemporaryDirectory(prefix="medgen-faults-") as tmp:
        for attempt in range(args.repeat):
            log, junit = Path(tmp) / f"log-{attempt}.jsonl", Path(tmp) / f"junit-{attempt}.xml"
            code = run_suite(log, junit)
            rows += [json.loads(line) for line in log.read_text().splitlines()] \
                if log.exists() else []
            runs.append({"exit_code": code, "tests": outcomes(junit) if junit.exists() else {}})
    tests = [t for run in runs for t in run["tests"].values()]
    result = {
        "command": "benchmarks/faults.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": psutil.cpu_count(), "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "tests": {"passed": tests.count("passed"), "failed": tests.count("failed"),
                  "skipped": tests.count("skipped")},
        "table": table(rows), "tries": rows, "runs": runs,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_page(result)
    print(f"{'fault':<92} {'tries':>5} {'lost':>5} {'dup.':>5}  resumed / uninterrupted")
    for line in result["table"]:
        print(f"{line['fault'][:92]:<92} {line['tries']:>5} {line['lost']:>5} "
              f"{line['duplicates']:>5}  {metric_cell(line)}")
    print(f"tests: {result['tests']}; wrote {RESULTS} and {PAGE}")
    sys.exit(0 if all(run["exit_code"] == 0 for run in runs) else 1)


if __name__ == "__main__":
    main()
