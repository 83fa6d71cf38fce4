"""Our MOSES metrics on a sample of MOSES train molecules, next to the README's "Train" row.

    .venv/bin/python benchmarks/moses_reference.py [--n 30000] [--seed 0] [--n-jobs 2]
        [--device cpu] [--no-fcd]

The "Train" row of the MOSES table scores train molecules against the test
sets, so a faithful implementation must land on it (up to the sample-size
effects explained in tests/molgen/test_metrics.py). Novelty is against the
full MOSES train set re-canonicalised by this RDKit, so it is 0 here (the
README prints 1.0 in that row). Prints the table and the seconds per stage;
writes benchmarks/results/moses_reference.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import time
import warnings
from pathlib import Path

from rdkit import rdBase

from molgen import metrics, moses_data

RESULTS = Path(__file__).resolve().parent / "results" / "moses_reference.json"

MOSES_TRAIN_ROW = {
    "Valid": 1.0, "Unique@1k": 1.0, "Unique@10k": 1.0, "FCD/Test": 0.008, "FCD/TestSF": 0.4755,
    "SNN/Test": 0.6419, "SNN/TestSF": 0.5859, "Frag/Test": 1.0, "Frag/TestSF": 0.9986,
    "Scaf/Test": 0.9907, "Scaf/TestSF": 0.0, "IntDiv": 0.8567, "IntDiv2": 0.8508,
    "Filters": 1.0, "Novelty": 1.0,
}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30_000, help="train molecules sampled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-fcd", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    train = moses_data.moses_smiles("train")
    sample = random.Random(args.seed).sample(train, args.n)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unique@10k when --n < 10000
        result = metrics.moses_metrics(
            sample, n_jobs=args.n_jobs, device=args.device, include_fcd=not args.no_fcd
        )
    seconds = time.perf_counter() - start

    print(f"{'metric':<12} {'ours':>8} {'MOSES Train':>12}")
    for name, value in result.items():
        print(f"{name:<12} {value:>8.4f} {MOSES_TRAIN_ROW[name]:>12}")
    print(f"{args.n} molecules in {seconds:.1f} s ({args.n_jobs} jobs, {args.device})")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "n": args.n,
                "seed": args.seed,
                "n_jobs": args.n_jobs,
                "device": args.device,
                "seconds": round(seconds, 1),
                "metrics": result,
                "moses_train_row": MOSES_TRAIN_ROW,
                "rdkit": rdBase.rdkitVersion,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
