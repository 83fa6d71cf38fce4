"""Analogue sampling and QED optimisation around seed molecules, checkpoints side by side.

    .venv/bin/python benchmarks/molgen_analogues.py CKPT [CKPT ...] [--seeds 20]
        [--samples 100] [--optimise-seeds 5] [--head-molecules 5000] [--threads 2]

For each checkpoint (e.g. a SELFIES and a SMILES model trained by
``benchmarks/molgen_moses.py``), with ``--seeds`` MOSES test molecules as
seeds (never trained on):

- ``molgen.generate.sample_analogues`` with its defaults (latent noise 0.5,
  temperature 0.5), ``--samples`` decodings a seed: the share that is valid,
  distinct analogues a seed, and the Tanimoto to the seed of the most similar
  one and the mean of the ten most similar;
- ``molgen.generate.optimise_latent`` (maximise QED with SA <= 4 and Tanimoto
  >= 0.4, its defaults) around the first ``--optimise-seeds`` seeds, with a
  property head fitted on ``--head-molecules`` of the model's training sample:
  the share of greedy decodings that are valid, the seeds with at least one
  feasible candidate, and the best candidate's QED gain over its seed.

What `medgen mol generate --seed-smiles ... [--optimise qed]` runs. Writes
benchmarks/results/molgen_analogues.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "molgen_analogues.json"


def analogues(task, seeds: list[str], samples: int, seed: int) -> dict:
    from molgen.generate import sample_analogues

    found = sample_analogues(task, seeds, n_samples=samples, seed=seed)
    counts = found.groupby("seed")["count"].sum()
    per_seed = found.groupby("seed")
    top1 = [float(per_seed.get_group(s)["tanimoto"].iloc[0]) if s in counts.index else 0.0
            for s in seeds]
    top10 = [float(per_seed.get_group(s)["tanimoto"].head(10).mean()) if s in counts.index else 0.0
             for s in seeds]
    # Decodings that gave a valid molecule other than the seed (the seed itself is dropped,
    # so this is a lower bound on validity).
    return {"valid_non_seed_share": round(float(counts.sum()) / (samples * len(seeds)), 4),
            "distinct_analogues_per_seed": round(len(found) / len(seeds), 1),
            "top1_tanimoto_median": round(statistics.median(top1), 4),
            "top10_tanimoto_mean": round(statistics.fmean(top10), 4)}


def optimisation(task, seeds: list[str], head_smiles: list[str], seed: int) -> dict:
    from molgen.generate import fit_property_head, optimise_latent

    t0 = time.perf_counter()
    head = fit_property_head(task, head_smiles, properties=("qed", "sa"), seed=seed)
    head_s = time.perf_counter() - t0
    gains, feasible, valid, decoded = [], 0, 0, 0
    for smiles in seeds:
        result = optimise_latent(task, head, smiles, seed=seed)
        valid += int(result.trace["smiles"].notna().sum())
        decoded += len(result.trace)
        if not result.candidates.empty:
            feasible += 1
            gains.append(float(result.candidates["qed"].iloc[0])
                         - result.seed_properties["qed"])
    return {"head_fit_s": round(head_s, 1), "greedy_valid_share": round(valid / decoded, 4),
            "seeds_with_feasible_candidate": f"{feasible}/{len(seeds)}",
            "best_qed_gain_median": round(statistics.median(gains), 4) if gains else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--seeds", type=int, default=20, help="MOSES test molecules as seeds")
    ap.add_argument("--samples", type=int, default=100, help="analogue decodings a seed")
    ap.add_argument("--optimise-seeds", type=int, default=5)
    ap.add_argument("--head-molecules", type=int, default=5000,
                    help="MOSES train molecules the property head is fitted on")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from molgen.moses_data import moses_smiles
    from molgen.task import MolVAETask

    seeds = moses_smiles("test")[:args.seeds]
    train = moses_smiles("train")
    head_smiles = random.Random(args.seed).sample(train, args.head_molecules)
    rows = {}
    for checkpoint in args.checkpoints:
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location="cpu").eval()
        row = {"tokenizer": task.tokenizer.kind,
               "analogues": analogues(task, seeds, args.samples, args.seed),
               "optimise_qed": optimisation(task, seeds[:args.optimise_seeds], head_smiles,
                                            args.seed)}
        rows[str(checkpoint)] = row
        print(checkpoint, json.dumps(row), flush=True)
    result = {"command": shlex.join([Path(sys.executable).name, *sys.argv]),
              "seeds": args.seeds, "samples": args.samples, "threads": args.threads,
              "load_average": os.getloadavg(), "checkpoints": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
