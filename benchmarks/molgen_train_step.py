"""Training step time of the molecular VAE: plain or length-bucketed batches, float32 or bf16.

    .venv/bin/python benchmarks/molgen_train_step.py [--molecules 20000] [--batch-size 64]
        [--steps 25] [--repeats 3] [--threads CORES] [--model-size small|moses]

Times forward + backward + Adam of ``MolVAETask`` on MOSES train molecules
(SELFIES), batched as ``token_loaders`` batches them (``LengthBucketSampler``
with pools of 50 batches) or in plain shuffled batches (``pool_batches=1``),
with float32 or under bf16 autocast (what ``--precision bfloat16`` /
Lightning's bf16-mixed runs). The four settings run in turn, ``--repeats``
times, each on the same model; a setting's figure is the median step over all
its steps but the first of each repeat. Also reports the padded tokens a batch
holds under both batchings. Writes benchmarks/results/molgen_train_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "molgen_train_step.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--molecules", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=25, help="steps a repeat of a setting")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--model-size", choices=("small", "moses"), default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from molgen.moses_data import moses_smiles
    from molgen.task import MolVAETask, MolVAETaskConfig, token_loaders
    from molgen.tokenizers import fit_tokenizer
    from molgen.vae import VAEConfig

    smiles = random.Random(args.seed).sample(moses_smiles("train"), args.molecules)
    tokenizer = fit_tokenizer("selfies", smiles)
    model = VAEConfig.small() if args.model_size == "small" else VAEConfig()
    task = MolVAETask(MolVAETaskConfig(model=model, lr=1e-3), tokenizer)
    optimiser = task.configure_optimizers()
    loaders = {pool: token_loaders(tokenizer, smiles, batch_size=args.batch_size,
                                   val_fraction=0.0, seed=args.seed, pool_batches=pool)[0]
               for pool in (1, 50)}
    padded = {pool: statistics.fmean(batch.numel() for batch in loader)
              for pool, loader in loaders.items()}

    settings = [(pool, precision) for pool in (1, 50) for precision in ("float32", "bfloat16")]
    times: dict[tuple[int, str], list[float]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for pool, precision in settings:
            for i, batch in enumerate(loaders[pool]):
                if i == args.steps:
                    break
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16,
                                    enabled=precision == "bfloat16"):
                    terms, _ = task.losses(batch)
                optimiser.zero_grad()
                terms["loss"].backward()
                optimiser.step()
                if i:  # the first step of a repeat pays for allocation
                    times[(pool, precision)].append(time.perf_counter() - start)

    base = statistics.median(times[(1, "float32")])
    rows = {}
    for pool, precision in settings:
        median = statistics.median(times[(pool, precision)])
        name = f"{'length buckets' if pool > 1 else 'plain batches'}, {precision}"
        rows[name] = {"median_step_ms": round(1000 * median, 1),
                      "molecules_per_s": round(args.batch_size / median, 1),
                      "speedup": round(base / median, 2)}
        print(f"{name:<32} {1000 * median:7.1f} ms a step  {args.batch_size / median:7.1f} "
              f"molecules/s  {base / median:5.2f}x")
    saved = 1 - padded[50] / padded[1]
    print(f"padded tokens a batch: {padded[1]:.0f} plain, {padded[50]:.0f} bucketed "
          f"({100 * saved:.0f}% fewer)")
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "hardware": {"cpu": platform.processor() or platform.machine(),
                     "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__},
        "threads": args.threads, "molecules": args.molecules, "batch_size": args.batch_size,
        "model_size": args.model_size, "steps_per_setting": len(times[settings[0]]),
        "padded_tokens_per_batch": {"plain": round(padded[1], 1),
                                    "length_buckets": round(padded[50], 1),
                                    "fewer": round(saved, 3)},
        "settings": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
