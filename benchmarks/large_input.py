"""Peak memory on large input (issue 25, item 7): `medgen mol evaluate` on a file of
1,000,000 SMILES lines, and `medgen kg build` of the full default graph (the whole HPO
release plus the approved drugs) into a throwaway managed Neo4j.

    .venv/bin/python benchmarks/large_input.py [--lines 1000000] [--fcd] [--skip-graph]

The SMILES file is a seed-0 sample of MOSES training molecules (a few hundred thousand
repeat, as in any large generated set). Each command runs under ``/usr/bin/time -v`` with
the whole process tree sampled every 0.1 s (``mol_evaluate.timed``); Neo4j's own JVM is
measured apart. ``--fcd`` includes FCD (ChemNet: ~2.5 ms a molecule on 2 cores, so about
40 minutes more for a million). Writes ``benchmarks/results/large_input.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mol_evaluate import MEDGEN, hardware, timed  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "large_input.json"


def smiles_file(path: Path, lines: int) -> Path:
    from molgen import moses_data

    train = moses_data.moses_smiles("train")
    rng = random.Random(0)
    chosen = rng.sample(train, min(lines, len(train)))
    chosen += rng.choices(train, k=lines - len(chosen))  # repeats past the training set
    path.write_text("\n".join(chosen) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--fcd", action="store_true", help="include FCD (slow on a CPU)")
    parser.add_argument("--skip-graph", action="store_true")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="medgen-large-") as tmp:
        tmp = Path(tmp)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")},
               "MEDGEN_STATE_DIR": str(tmp / "state")}
        path = smiles_file(tmp / f"moses_train_{args.lines}.smi", args.lines)
        command = [str(MEDGEN), "mol", "evaluate", str(path), "--format", "json"]
        row = timed(command + ([] if args.fcd else ["--no-fcd"]), env)
        stdout = row.pop("stdout")
        row["metrics"] = json.loads(stdout)["metrics"] if row["returncode"] == 0 else None
        rows["mol_evaluate"] = {"lines": args.lines, **row}
        print(f"mol evaluate, {args.lines:,} lines: {row['wall_s']} s, tree peak "
              f"{row['peak_tree_rss_mb']} MB, exit {row['returncode']}", flush=True)

        if not args.skip_graph:
            from medgen.neo4j_server import ManagedServer, free_port

            env |= {"MEDGEN_NEO4J_PORT": str(free_port()),
                    "MEDGEN_NEO4J_HTTP_PORT": str(free_port())}
            os.environ.update({k: env[k] for k in ("MEDGEN_STATE_DIR", "MEDGEN_NEO4J_PORT",
                                                   "MEDGEN_NEO4J_HTTP_PORT")})
            # started here, so that its JVM is not in the measured command's process tree
            server = ManagedServer()
            server.start()
            try:
                row = timed([str(MEDGEN), "kg", "build"], env)
                pid = server.status().pid
                row["neo4j_jvm_rss_mb_after"] = (
                    psutil.Process(pid).memory_info().rss // 2**20 if pid else None)
            finally:
                server.stop()
            row["stdout"] = row["stdout"].splitlines()[-15:]
            rows["kg_build"] = row
            print(f"kg build: {row['wall_s']} s, tree peak {row['peak_tree_rss_mb']} MB "
                  f"(Neo4j apart: {row['neo4j_jvm_rss_mb_after']} MB), exit "
                  f"{row['returncode']}", flush=True)
    result = {"command": "benchmarks/large_input.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "hardware": hardware(), "rows": rows}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
