"""ChemNet (FCD's network) at several batch sizes: wall and CPU milliseconds a molecule and
peak memory, each size in a fresh process, on a seed-0 sample of MOSES test molecules;
the activations must be identical at every size.

    .venv/bin/python benchmarks/chemnet_batch.py [--n 4096] [--sizes 128 256 512 1024]

Writes benchmarks/results/chemnet_batch.json and prints a table; molgen.metrics uses
the fastest size as CHEMNET_BATCH.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "chemnet_batch.json"

ONE = """
import json, random, resource, sys, time
import torch
from molgen import metrics, moses_data
from molgen.chem import canonical_smiles
batch, n = int(sys.argv[1]), int(sys.argv[2])
smiles = [canonical_smiles(s) for s in random.Random(0).sample(moses_data.moses_smiles("test"), n)]
metrics.chemnet_activations(smiles[:64], batch_size=64)  # the weights loaded, not timed
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
wall, cpu = time.perf_counter(), time.process_time()
out = metrics.chemnet_activations(smiles, batch_size=batch)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"batch": batch, "molecules": n, "torch_threads": torch.get_num_threads(),
                  "wall_ms_a_molecule": round(1000 * wall / n, 3),
                  "cpu_ms_a_molecule": round(1000 * cpu / n, 3),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10,
                  "rss_mb_before": before, "activations_sum": float(out.astype("float64").sum())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        proc = subprocess.run([sys.executable, "-c", ONE, str(size), str(args.n)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    result = {"command": "benchmarks/chemnet_batch.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average": [round(x, 2) for x in os.getloadavg()]},
              "identical_activations": len({r["activations_sum"] for r in rows}) == 1,
              "fastest": min(rows, key=lambda r: r["wall_ms_a_molecule"])["batch"],
              "rows": rows}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"fastest: {result['fastest']}; identical: {result['identical_activations']}; "
          f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
