"""A tiny molecular VAE trained on the shared engine as its own process, for the tests to
SIGKILL mid-run and resume:

    python tests/faults/mol_trainer.py OUT_DIR EPOCHS [--resume]

Prints one JSON line: the epochs done, where it resumed from, and the final validation
loss. The same corpus, tokenizer, seed and budget every time."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from kg.sources.drugs import default_path
from medgen.mol_jobs import vae_config
from molgen.task import MolVAETask, MolVAETaskConfig, token_loaders
from molgen.tokenizers import fit_tokenizer
from training import seed_everything
from training.config import TrainConfig
from training.engine import fit

SEED = 0


def main(out_dir: str, epochs: str, *flags: str) -> None:
    torch.set_num_threads(1)
    smiles = pd.read_parquet(default_path(), columns=["smiles"])["smiles"].dropna()
    corpus = [s for s in smiles if len(s) <= 40][:256]
    seed_everything(SEED)
    vocabulary = fit_tokenizer("smiles", corpus)
    config = MolVAETaskConfig(model=vae_config("tiny"), lr=2e-3)
    train, val = token_loaders(vocabulary, corpus, batch_size=16, val_fraction=0.25, seed=SEED,
                               max_length=config.max_length)
    seed_everything(SEED)
    task = MolVAETask(dataclasses.replace(config, budget_steps=int(epochs) * len(train),
                                          kl_warmup_share=0.5, lr_decay_share=1.0), vocabulary)
    out = Path(out_dir).resolve()
    run = TrainConfig(max_epochs=int(epochs), seed=SEED, accelerator="cpu", devices=1,
                      log_dir=str(out.parent), run_name=out.name, num_sanity_val_steps=0,
                      log_every_n_steps=1, progress_bar=False, resume="--resume" in flags)
    result = fit(task, train, run, val=val)
    print(json.dumps({"epochs": result.epochs, "resumed_from": str(result.resumed_from),
                      "val_loss": float(result.metrics["val_loss"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
