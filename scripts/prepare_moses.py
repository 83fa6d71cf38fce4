"""Prepare the MOSES reference data once per machine (scripts/setup.sh runs this).

    python scripts/prepare_moses.py [--n-jobs N]

Downloads the molsets 0.3.1 wheel (pip download), decodes its test statistics
and canonicalises the 1.58M training SMILES for Novelty, with a progress bar;
`medgen mol evaluate` and the MOSES benchmarks then start at once. A stamp in
the cache (MEDGEN_CACHE_DIR, default ~/.cache/medgen) makes a second run
return immediately. See molgen.moses_data.prepare_reference.
"""

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from molgen import moses_data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: CPUs)")
    args = ap.parse_args()
    err = Console(stderr=True)
    if moses_data.is_prepared():
        return 0  # quiet: set-up runs this every time
    err.print(f"MOSES reference data -> {moses_data.moses_cache()} (once per machine)")
    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        try:
            record = moses_data.prepare_reference(n_jobs=args.n_jobs, progress=progress)
        except moses_data.MosesDataUnavailable as e:
            err.print(f"error: {e}", markup=False)
            return 1
    err.print(f"prepared in {record['seconds']} s: {record['train_canonical_distinct']:,} "
              f"canonical training molecules (RDKit {record['rdkit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
