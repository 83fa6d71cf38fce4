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
  >= 0.4, its defaults) around ``--optimise-seeds`` seeds, with a property
  head fitted on ``--head-molecules`` of MOSES train: the share of its
  decodings that are valid, the seeds with a feasible candidate (valid, not
  the seed, SA <= 4, Tanimoto >= 0.4) better than the seed, and the best
  candidate's QED gain. The seeds are the lowest-QED molecules of a seeded
  random 1,000 of MOSES test, so that there is room to gain. Beside it, the
  same constraints applied to ``sample_analogues`` (its defaults) with as many
  decodings as the optimiser made: what the property head adds over
  searching the seed's neighbourhood at random, at the same cost.

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

import pandas as pd
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


def _best_gains(candidates: dict[str, pd.DataFrame], seed_qed: dict[str, float]) -> dict:
    """Success (a feasible candidate with higher QED than its seed) and gains, over the seeds."""
    gains = {}
    for seed, found in candidates.items():
        best = float(found["qed"].max()) - seed_qed[seed] if len(found) else None
        gains[seed] = best if best is not None and best > 0 else None
    improved = [g for g in gains.values() if g is not None]
    return {"seeds_improved": f"{len(improved)}/{len(gains)}",
            "qed_gain_median_of_improved": round(statistics.median(improved), 4)
            if improved else None,
            # a seed without a better feasible candidate counts as no gain
            "qed_gain_mean_all_seeds": round(sum(improved) / len(gains), 4),
            "per_seed": {s: None if g is None else round(g, 4) for s, g in gains.items()}}


def optimisation(task, seeds: list[str], head_smiles: list[str], seed: int) -> dict:
    """Guided (property head) against random (analogue sampling) search at equal decodings."""
    from molgen import chem
    from molgen.generate import (
        LatentOptimisationConfig,
        fit_property_head,
        optimise_latent,
        sample_analogues,
    )

    config = LatentOptimisationConfig()
    decodings = config.decodings
    t0 = time.perf_counter()
    head = fit_property_head(task, head_smiles, properties=("qed", "sa"), seed=seed)
    head_s = time.perf_counter() - t0
    seed_qed, guided, random_search = {}, {}, {}
    valid = decoded = 0
    t0 = time.perf_counter()
    for smiles in seeds:
        result = optimise_latent(task, head, smiles, config, seed=seed)
        seed_qed[result.seed] = result.seed_properties["qed"]
        valid += int(result.trace["smiles"].notna().sum())
        decoded += len(result.trace)
        guided[result.seed] = result.candidates
    guided_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = sample_analogues(task, seeds, n_samples=decodings,
                             min_tanimoto=config.min_tanimoto, seed=seed)
    for canonical in seed_qed:
        mine = found[found["seed"] == canonical]
        scored = chem.properties_table(mine["smiles"].tolist())
        random_search[canonical] = scored[scored["sa"] <= config.sa_max]
    random_s = time.perf_counter() - t0
    guided_row, random_row = _best_gains(guided, seed_qed), _best_gains(random_search, seed_qed)
    paired = [(guided_row["per_seed"][s] or 0.0) - (random_row["per_seed"][s] or 0.0)
              for s in seed_qed]
    return {"seeds": len(seeds), "decodings_per_seed": decodings,
            "seed_qed_median": round(statistics.median(seed_qed.values()), 4),
            "head_fit_s": round(head_s, 1),
            "optimise_latent": {"valid_share": round(valid / decoded, 4),
                                "seconds": round(guided_s, 1), **guided_row},
            "sample_analogues_same_decodings": {"seconds": round(random_s, 1), **random_row},
            # per seed, optimise_latent's best gain against random search's (no gain = 0)
            "optimise_vs_random": {"wins": sum(d > 1e-9 for d in paired),
                                   "ties": sum(abs(d) <= 1e-9 for d in paired),
                                   "losses": sum(d < -1e-9 for d in paired),
                                   "mean_difference": round(statistics.fmean(paired), 4)}}


def low_qed_seeds(test: list[str], n: int, seed: int) -> list[str]:
    """The ``n`` lowest-QED molecules of a seeded random 1,000 of ``test``."""
    from molgen import chem

    pool = random.Random(seed).sample(test, min(1000, len(test)))
    table = chem.properties_table(pool)
    return table.nsmallest(n, "qed")["input_smiles"].tolist()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--seeds", type=int, default=20, help="MOSES test molecules as seeds")
    ap.add_argument("--samples", type=int, default=100, help="analogue decodings a seed")
    ap.add_argument("--optimise-seeds", type=int, default=30,
                    help="lowest-QED test molecules optimised around")
    ap.add_argument("--head-molecules", type=int, default=5000,
                    help="MOSES train molecules the property head is fitted on")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from molgen.moses_data import moses_smiles
    from molgen.task import MolVAETask

    test = moses_smiles("test")
    seeds = test[:args.seeds]
    optimise_seeds = low_qed_seeds(test, args.optimise_seeds, args.seed)
    train = moses_smiles("train")
    head_smiles = random.Random(args.seed).sample(train, args.head_molecules)
    rows = {}
    for checkpoint in args.checkpoints:
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location="cpu").eval()
        row = {"tokenizer": task.tokenizer.kind,
               "analogues": analogues(task, seeds, args.samples, args.seed),
               "optimise_qed": optimisation(task, optimise_seeds, head_smiles, args.seed)}
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
