"""MOSES benchmark of the VAE (SELFIES or SMILES), and its generation throughput.

    .venv/bin/python benchmarks/molgen_moses.py [--budget-s 1200] [--train-size 200000]
        [-n 30000] [--temperature 1.0] [--checkpoint CKPT] [--n-jobs 2] [--threads CORES]
        [--precision float32|bfloat16] [--train-precision float32|bfloat16]
        [--accelerator auto|cpu|gpu] [--model-size small|moses] [--tokenizer selfies|smiles|kekule]
        [--syntax [--complete]]
    .venv/bin/python benchmarks/molgen_moses.py --throughput-only --checkpoint CKPT
        [--throughput-n 5000] [--repeats 5] [--workers 2]
    .venv/bin/python benchmarks/molgen_moses.py --diagnose-only --checkpoint CKPT
        [--diagnose-n 5000]
    .venv/bin/python benchmarks/molgen_moses.py --tradeoff-only --checkpoint CKPT
        [--diagnose-n 5000]

MOSES part: trains ``MolVAETask`` (``--tokenizer``, ``VAEConfig.small()``) on a seeded
sample of ``--train-size`` MOSES train molecules on the shared engine
(``training.fit``) for ``--budget-s`` seconds of wall time on the CPU (or
reuses ``--checkpoint``); where a GPU is found (``--accelerator auto``) it
trains the MOSES VAE's sizes at batch 512 instead (:data:`DEVICE_DEFAULTS`),
samples ``-n`` molecules from the prior, computes the
full MOSES table with ``molgen.metrics`` (FCD/SNN/Frag/Scaf against MOSES's
shipped test statistics, novelty against all 1.58M train molecules) and prints
it next to the published VAE, CharRNN, JTN-VAE and LatentGAN rows. It also
reports the posterior-collapse check of the trained model on held-out
molecules (KL in nats, active latent units, reconstruction). After training
it fits the latent mixture ``mol train`` fits (``--mixture`` components on
20,000 training molecules' codes, stored in the checkpoint) and scores samples
from it (``metrics``, what ``mol generate`` samples) and from N(0, I)
(``normal_prior``, as MOSES samples). ``--precision
bfloat16`` samples with bf16 decoder products. A SMILES model's invalid
samples count against Valid, as in MOSES; the other metrics score the valid
ones. Each part's result goes under a key per tokenizer and sampling
precision: ``moses_smiles``, ``moses_smiles_bfloat16``, ``throughput_smiles``,
``fcd_sources_smiles``; the plain keys (``moses``, ``throughput``, ...) hold
the SELFIES model's. ``--syntax`` samples a SMILES model under the syntax mask
(:mod:`molgen.grammar`, ``mol generate --syntax``), its keys ending
``_syntax`` (``_syntax_complete`` with ``--complete``, which also drops what a
row leaves open at its end).

Throughput part (alone with ``--throughput-only``): prior sampling + decoding
(SELFIES -> SMILES) + RDKit sanitising + canonical SMILES + de-duplication + all
``molgen.chem`` properties, as ``molgen.generate.sample_scored`` runs it
(``--workers`` processes that each sample and score whole chunks), median of
``--repeats``; the same with fewer properties (without SA; the rule-of-five
and Veber descriptors only; none); the CPU cost of each stage and of each
property; and bare ``Chem.MolFromSmiles`` of the same molecules in the same
run, as a ratio. Each setting runs with float32 and with bfloat16 decoder
products, the repeats of the two interleaved.

Diagnosis (alone with ``--diagnose-only``): FCD/Test, SNN, Frag, Filters and
the molecules' shape (heavy atoms, rings, aromatic share) of MOSES test
molecules themselves, of their posterior means decoded greedily, of their
posterior samples and of prior samples decoded at temperature 1, of prior
samples at 0.7, and of samples from the latent mixture when the checkpoint
holds one: which of encoder, prior and token sampling the FCD gap lies in.

Trade-off (alone with ``--tradeoff-only``): Valid, FCD/Test and novelty of
samples from the latent mixture at token temperatures 1, 0.8 and 0.6, from
N(0, I), and from the training molecules' own posteriors with their spread
scaled by 1, 1.25 and 1.5: whether any of these lowers FCD/Test at the
novelty goal, or only trades novelty for it.

Writes benchmarks/results/molgen_moses.json (a part not run keeps its last
result there).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import torch

from molgen.vae import PRECISIONS

RESULTS = Path(__file__).resolve().parent / "results" / "molgen_moses.json"

# Published rows of the MOSES table: mean and standard deviation over three
# runs, from the README of molecularsets/moses,
# https://github.com/molecularsets/moses/blob/master/README.md
# (commit ffbc4dbad1afddc38b0bcd0a68801b56524c3ca9); Polykovskiy et al.,
# Front. Pharmacol. 2020. All were trained on the full 1.58M-molecule train
# split on a GPU (the VAE for 100 epochs).
MOSES_SOURCE = ("https://github.com/molecularsets/moses/blob/"
                "ffbc4dbad1afddc38b0bcd0a68801b56524c3ca9/README.md")
_COLUMNS = ("Valid", "Unique@1k", "Unique@10k", "FCD/Test", "FCD/TestSF", "SNN/Test",
            "SNN/TestSF", "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv",
            "IntDiv2", "Filters", "Novelty")
_PUBLISHED = {
    "VAE": [(0.9767, 0.0012), (1.0, 0.0), (0.9984, 0.0005), (0.099, 0.0125), (0.567, 0.0338),
            (0.6257, 0.0005), (0.5783, 0.0008), (0.9994, 0.0001), (0.9984, 0.0003),
            (0.9386, 0.0021), (0.0588, 0.0095), (0.8558, 0.0004), (0.8498, 0.0004),
            (0.997, 0.0002), (0.6949, 0.0069)],
    "CharRNN": [(0.9748, 0.0264), (1.0, 0.0), (0.9994, 0.0003), (0.0732, 0.0247),
                (0.5204, 0.0379), (0.6015, 0.0206), (0.5649, 0.0142), (0.9998, 0.0002),
                (0.9983, 0.0003), (0.9242, 0.0058), (0.1101, 0.0081), (0.8562, 0.0005),
                (0.8503, 0.0005), (0.9943, 0.0034), (0.8419, 0.0509)],
    "JTN-VAE": [(1.0, 0.0), (1.0, 0.0), (0.9996, 0.0003), (0.3954, 0.0234), (0.9382, 0.0531),
                (0.5477, 0.0076), (0.5194, 0.007), (0.9965, 0.0003), (0.9947, 0.0002),
                (0.8964, 0.0039), (0.1009, 0.0105), (0.8551, 0.0034), (0.8493, 0.0035),
                (0.976, 0.0016), (0.9143, 0.0058)],
    "LatentGAN": [(0.8966, 0.0029), (1.0, 0.0), (0.9968, 0.0002), (0.2968, 0.0087),
                  (0.8281, 0.0117), (0.5371, 0.0004), (0.5132, 0.0002), (0.9986, 0.0004),
                  (0.9972, 0.0007), (0.8867, 0.0009), (0.1072, 0.0098), (0.8565, 0.0007),
                  (0.8505, 0.0006), (0.9735, 0.0006), (0.9498, 0.0006)],
}  # fmt: skip
MOSES_PUBLISHED = {
    model: {name: {"mean": m, "std": sd} for name, (m, sd) in zip(_COLUMNS, row, strict=True)}
    for model, row in _PUBLISHED.items()
}
TRAINING_RECORD = "training.json"  # what --train-only writes beside a run's checkpoints/
GOALS = {"Valid": 1.0, "Unique@10k": 0.999, "Novelty": 0.95}  # issue 3, CPU budget

log = logging.getLogger("molgen_moses")


# --------------------------------------------------------------------------
# Training


# What a run trains by default where it runs: on the CPU the small model on a
# 200,000-molecule sample at batch 64 (many optimiser steps per CPU second);
# on a GPU the MOSES VAE's sizes (3 x 512 decoder) at batch 512, as the
# published VAE was trained, on 500,000 molecules (tokenising them takes
# minutes on one core; pass --train-size 0 for all of MOSES train).
DEVICE_DEFAULTS = {
    "cpu": {"model_size": "small", "train_size": 200_000, "batch_size": 64},
    "gpu": {"model_size": "moses", "train_size": 500_000, "batch_size": 512},
}


def _resolve_device_defaults(args) -> None:
    """Fill --accelerator auto and the size options left unset from DEVICE_DEFAULTS."""
    from training.engine import select_accelerator

    args.accelerator = select_accelerator(args.accelerator)
    if args.accelerator not in DEVICE_DEFAULTS:
        raise SystemExit(f"--accelerator {args.accelerator}: this benchmark runs on cpu or gpu")
    for key, value in DEVICE_DEFAULTS[args.accelerator].items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _model_config(size: str):
    from molgen.vae import VAEConfig

    return VAEConfig.small() if size == "small" else VAEConfig()


def _molecules(args) -> tuple[list[str], list[str]]:
    """A seeded sample of MOSES train for training (all of it less the held-out ones when
    ``--train-size`` is 0), and 2,000 other train molecules held out."""
    from molgen.moses_data import moses_smiles

    train = moses_smiles("train")
    size = min(args.train_size or len(train), len(train) - 2000)
    picked = random.Random(args.seed).sample(range(len(train)), size + 2000)
    return [train[i] for i in picked[:size]], [train[i] for i in picked[-2000:]]


def train(args, run_dir: Path) -> tuple[Path, dict]:
    from molgen.task import MolVAETask, MolVAETaskConfig, token_loaders
    from molgen.tokenizers import fit_tokenizer
    from training import TrainConfig, fit, seed_everything
    from training.config import LIGHTNING_PRECISION

    t0 = time.perf_counter()
    corpus, _ = _molecules(args)
    seed_everything(args.seed)
    tokenizer = fit_tokenizer(args.tokenizer, corpus)
    # The KL weight warms up over the first --kl-warmup-fraction of the budget's seconds
    # and the learning rate decays over all of them, on the trainer's clock: a schedule in
    # steps set from a step time measured before training followed the load of that moment.
    config = MolVAETaskConfig(model=_model_config(args.model_size), lr=args.lr,
                              kl_max=args.kl_max, budget_seconds=args.budget_s,
                              kl_warmup_share=args.kl_warmup_fraction,
                              lr_decay_share=args.lr_decay_fraction if args.lr_decay else 0.0)
    train_loader, val_loader = token_loaders(tokenizer, corpus, batch_size=args.batch_size,
                                             val_fraction=0.01, seed=args.seed,
                                             max_length=config.max_length)
    prepare_s = time.perf_counter() - t0
    seed_everything(args.seed)
    task = MolVAETask(config, tokenizer)
    run = TrainConfig(max_epochs=1000, max_time_s=args.budget_s, seed=args.seed,
                      accelerator=args.accelerator, devices=1, log_dir=str(run_dir.parent),
                      run_name=run_dir.name, progress_bar=False, num_sanity_val_steps=0,
                      log_every_n_steps=50, gradient_clip_val=50.0,
                      precision=LIGHTNING_PRECISION[args.train_precision])
    t1, cpu1 = time.perf_counter(), time.process_time()
    result = fit(task, train_loader, run, val=val_loader)
    train_s, train_cpu_s = time.perf_counter() - t1, time.process_time() - cpu1
    info = {
        "train_molecules": len(train_loader.dataset), "val_molecules": len(val_loader.dataset),
        "prepare_s": round(prepare_s, 1), "train_wall_s": round(train_s, 1),
        # CPU seconds this process got while training: on a shared machine it
        # says how much of the wall budget the model really trained for.
        "train_cpu_s": round(train_cpu_s, 1), "load_average_after": os.getloadavg(),
        "schedule": "share of the budget's seconds",
        "train_size": args.train_size, "seed": args.seed,
        "accelerator": args.accelerator, "model_size": args.model_size,
        "train_precision": args.train_precision, "tokenizer": args.tokenizer,
        "optimizer_steps": result.global_step, "batch_size": args.batch_size,
        "molecules_seen": result.global_step * args.batch_size,
        "epochs": round(result.global_step * args.batch_size / len(train_loader.dataset), 3),
        "last_logged": {k: round(v, 4) for k, v in result.metrics.items()},
        "task_config": task.hparams["config"],
    }
    return result.last_checkpoint, info


# --------------------------------------------------------------------------
# MOSES table


def fit_mixture(task, checkpoint: Path, args) -> dict | None:
    """Fit the latent mixture on the run's training molecules, as ``mol train`` does after
    training, and store it in ``checkpoint``; keep the one a checkpoint already holds."""
    from molgen.latent_prior import attach_to_checkpoint, fit_latent_mixture

    if args.mixture == 0:
        task.latent_mixture = None
        return None
    if task.latent_mixture is None:
        train, _ = _molecules(args)
        start = time.perf_counter()
        task.latent_mixture = fit_latent_mixture(task.encode_smiles, train,
                                                 components=args.mixture,
                                                 seed=args.seed)
        attach_to_checkpoint(checkpoint, task.latent_mixture)
        fit_s = round(time.perf_counter() - start, 1)
    else:
        fit_s = None  # fitted before, by this script or `mol train`
    return {"components": task.latent_mixture.components,
            "fitted_on": task.latent_mixture.fitted_on, "fit_s": fit_s}


def _prior_sample(task, args, prior: str) -> tuple[list[str], float]:
    generator = torch.Generator(device=task.device).manual_seed(args.seed)
    start = time.perf_counter()
    generated: list[str] = []
    while len(generated) < args.n:
        generated += task.sample(min(2000, args.n - len(generated)),
                                 temperature=args.temperature, generator=generator,
                                 precision=args.precision, prior=prior)
    return generated, time.perf_counter() - start


def evaluate(task, args) -> dict:
    """The MOSES table of ``-n`` samples from the model's prior: the fitted latent mixture
    when it has one (what `mol generate` samples), and N(0, I), as MOSES samples."""
    from molgen.metrics import moses_metrics

    # Held out from training when this script trained the model with the same
    # --seed and --train-size (for another checkpoint they may overlap its data).
    _, held_out = _molecules(args)
    diagnostics = task.latent_diagnostics(held_out)
    priors = ("mixture", "normal") if task.latent_mixture is not None else ("normal",)
    runs = {}
    for prior in priors:
        completing = task.grammar is not None and task.complete_open_rows
        if completing:
            task.grammar.rows_seen = task.grammar.rows_completed = 0
        generated, sample_s = _prior_sample(task, args, prior)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # unique@10k when -n < 10000
            table = moses_metrics(generated, n_jobs=args.n_jobs, device=str(task.device))
        runs[prior] = {"metrics": table, "sample_s": round(sample_s, 1),
                       "metrics_s": round(time.perf_counter() - start, 1),
                       "mean_smiles_length": statistics.fmean(len(s) for s in generated)}
        if completing:  # rows the syntax mask completed at <eos>
            runs[prior]["completed_share"] = round(
                task.grammar.rows_completed / max(task.grammar.rows_seen, 1), 4)
        log.info("prior %s: %s", prior, {k: round(v, 4) for k, v in table.items()})
    headline = runs[priors[0]]
    return {"n": args.n, "temperature": args.temperature, "precision": args.precision,
            "prior": priors[0], "smiles_syntax": task.grammar is not None,
            "complete_open_rows": task.grammar is not None and task.complete_open_rows,
            **headline, "normal_prior": runs["normal"],
            "latent_diagnostics": diagnostics,
            "goals": {k: {"goal": v, "met": headline["metrics"][k] >= v}
                      for k, v in GOALS.items()}}


def _shape(smiles: list[str]) -> dict[str, float]:
    """Mean heavy atoms, rings and share of aromatic atoms of the valid ``smiles``."""
    from molgen import chem
    from molgen.errors import InvalidMolecule

    mols = []
    for text in smiles:
        try:
            mols.append(chem.to_mol(text))  # RDKit's log stays captured
        except InvalidMolecule:
            continue
    atoms = [m.GetNumHeavyAtoms() for m in mols]
    return {"heavy_atoms": round(statistics.fmean(atoms), 2),
            "rings": round(statistics.fmean(m.GetRingInfo().NumRings() for m in mols), 3),
            "aromatic_atom_share": round(sum(a.GetIsAromatic() for m in mols
                                             for a in m.GetAtoms()) / sum(atoms), 3)}


# Words of RDKit's reasons, grouped: what a SMILES model's invalid samples got wrong.
_INVALID_KINDS = {"unclosed ring": "unclosed ring", "parenthes": "unbalanced branch",
                  "syntax": "other syntax", "ring closure": "ring closure on a bonded pair",
                  "kekulize": "aromatic ring that cannot be kekulised",
                  "non-ring atom": "aromatic atom outside a ring", "valence": "valence"}


def invalid_kinds(smiles: list[str]) -> dict[str, int]:
    """How many of ``smiles`` RDKit refuses, by kind of error (most common first)."""
    from molgen import chem
    from molgen.errors import InvalidMolecule

    kinds: Counter[str] = Counter()
    for text in smiles:
        try:
            chem.to_mol(text)
        except InvalidMolecule as err:
            reason = err.reason.lower()
            kinds[next((kind for word, kind in _INVALID_KINDS.items() if word in reason),
                       "other")] += 1
    return dict(kinds.most_common())


def read_back(task, ids: torch.Tensor) -> list[str]:
    """The SMILES of the SELFIES samples among token ``ids`` that decode without repair:
    those whose SMILES encodes back to the same SELFIES. SELFIES decoding never fails;
    where the tokens break a valence rule it drops or weakens bonds and goes on, so this
    is the SELFIES counterpart of a SMILES model's validity check (every one of 3,000
    MOSES test molecules reads back)."""
    import selfies as sf

    from molgen.tokenizers import EOS, SPECIAL_TOKENS

    vocabulary = task.tokenizer.vocabulary
    kept = []
    for row in ids.tolist():
        row = row[:row.index(EOS)] if EOS in row else row
        text = "".join(vocabulary[i] for i in row if i >= len(SPECIAL_TOKENS))
        smiles = sf.decoder(text)
        try:
            if sf.encoder(smiles) == text:
                kept.append(smiles)
        except sf.EncoderError:
            continue
    return kept


def fcd_sources(task, args) -> dict:
    """Where the FCD gap comes from: the same metrics for ``--diagnose-n`` MOSES test
    molecules themselves (the metrics' floor at that sample size), their posterior means
    decoded greedily, their posterior samples and prior samples decoded at temperature 1
    (as the MOSES table samples) and prior samples at 0.7, all from N(0, I), and samples
    from the latent mixture when the checkpoint holds one (for a SMILES model, also under
    the syntax mask, :mod:`molgen.grammar`). For a SELFIES model, also the
    prior samples at 1 that decode without repair (:func:`read_back`); for a SMILES model,
    what its invalid samples got wrong (:func:`invalid_kinds`)."""
    from molgen.metrics import moses_metrics
    from molgen.moses_data import moses_smiles

    n = args.diagnose_n
    # A seeded sample: the file's first molecules are not a random draw (the first
    # 5,000 score FCD/Test 3.95 against their own set's statistics).
    test = random.Random(args.seed).sample(moses_smiles("test"), n)
    generator = torch.Generator(device=task.device).manual_seed(args.seed)
    grammar, task.grammar = task.grammar, None  # the rows decode without it but the last
    mu, logvar = task.encode_smiles(test)
    posterior = task.model.reparameterise(mu, logvar, generator=generator)
    rows = {
        "MOSES test molecules": test,
        "posterior mean, greedy": task.decode_latent(mu, temperature=0.0),
        "posterior sample, T=1": task.decode_latent(posterior, temperature=1.0,
                                                    generator=generator),
        "prior, T=1": task.sample(n, temperature=1.0, generator=generator, prior="normal"),
        "prior, T=0.7": task.sample(n, temperature=0.7, generator=generator, prior="normal"),
    }
    if task.latent_mixture is not None:
        rows["latent mixture, T=1"] = task.sample(n, temperature=1.0, generator=generator,
                                                  prior="mixture")
        if task.tokenizer.kind != "selfies":
            task.use_smiles_syntax(True)
            rows["latent mixture, T=1, syntax mask"] = task.sample(
                n, temperature=1.0, generator=generator, prior="mixture")
    read_back_share = None
    if task.tokenizer.kind == "selfies":
        kept, sampled = [], 0
        while len(kept) < n and sampled < 50 * n:
            kept += read_back(task, task.sample_ids(n, temperature=1.0, generator=generator,
                                                    prior="normal"))
            sampled += n
        rows["prior, T=1, read back unrepaired"] = kept[:n]
        read_back_share = round(len(kept) / sampled, 4)
    result = {}
    for name, smiles in rows.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = moses_metrics(smiles, train=(), n_jobs=args.n_jobs, device=str(task.device))
        result[name] = {k: round(table[k], 4) for k in ("Valid", "FCD/Test", "SNN/Test",
                                                        "Frag/Test", "Filters")} | _shape(smiles)
        log.info("%s: %s", name, result[name])
    task.grammar = grammar
    out = {"n": n, "tokenizer": task.tokenizer.kind, "rows": result}
    if read_back_share is not None:
        out["read_back_share_of_prior_samples"] = read_back_share
    else:
        out["invalid_kinds"] = {name: invalid_kinds(rows[name])
                                for name in ("posterior sample, T=1", "prior, T=1",
                                             "latent mixture, T=1",
                                             "latent mixture, T=1, syntax mask")
                                if name in rows}
    return out


# Where --tradeoff-only draws latents: (row name, prior, token temperature, posterior
# scale). A scale draws from the training molecules' own posteriors, their spread times
# the scale; the rest draw from the model's prior ("mixture" or "normal").
TRADEOFF_ROWS = (
    ("latent mixture, T=1", "mixture", 1.0, None),
    ("latent mixture, T=0.8", "mixture", 0.8, None),
    ("latent mixture, T=0.6", "mixture", 0.6, None),
    ("N(0, I), T=1", "normal", 1.0, None),
    ("training posteriors, spread x1", None, 1.0, 1.0),
    ("training posteriors, spread x1.25", None, 1.0, 1.25),
    ("training posteriors, spread x1.5", None, 1.0, 1.5),
)
TRADEOFF_POSTERIORS = 50_000  # training molecules whose posteriors the scaled rows draw from


def novelty_tradeoff(task, args) -> dict:
    """How far token temperature and where the latents are drawn move FCD/Test against
    novelty: ``--diagnose-n`` samples a row (:data:`TRADEOFF_ROWS`), each scored with
    Valid, Unique@1k, FCD/Test, SNN/Test, Filters and Novelty (against all of MOSES
    train). Decoding near the training molecules' own codes lowers FCD and novelty
    together; the question is whether any setting lowers FCD at the novelty goal."""
    from molgen.metrics import moses_metrics

    n = args.diagnose_n
    train, _ = _molecules(args)
    fit = random.Random(args.seed).sample(train, min(TRADEOFF_POSTERIORS, len(train)))
    mu, logvar = task.encode_smiles(fit)
    sigma = (0.5 * logvar).exp()
    rows = {}
    for name, prior, temperature, scale in TRADEOFF_ROWS:
        if prior == "mixture" and task.latent_mixture is None:
            continue
        generator = torch.Generator(device=task.device).manual_seed(args.seed)
        if scale is None:
            z = task.draw_latents(n, generator=generator, prior=prior)
        else:
            pick = torch.randint(0, len(fit), (n,), generator=generator, device=task.device)
            noise = torch.randn(n, mu.shape[1], generator=generator, device=task.device)
            z = mu[pick] + scale * sigma[pick] * noise
        smiles = []
        for start in range(0, n, 2000):
            smiles += task.decode_latent(z[start:start + 2000], temperature=temperature,
                                         generator=generator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = moses_metrics(smiles, n_jobs=args.n_jobs, device=str(task.device))
        rows[name] = {k: round(table[k], 4) for k in ("Valid", "Unique@1k", "FCD/Test",
                                                      "SNN/Test", "Filters", "Novelty")}
        log.info("%s: %s", name, rows[name])
    return {"n": n, "tokenizer": task.tokenizer.kind, "posteriors_drawn_from": len(fit),
            "rows": rows}


def print_rows(rows: dict[str, dict], width: int) -> None:
    """Rows of named figures under a header of their names, ``width`` characters a column."""
    print(f"{'':<34}" + "".join(f"{k:>{width}}" for k in next(iter(rows.values()))))
    for name, row in rows.items():
        print(f"{name:<34}" + "".join(f"{v:>{width}}" for v in row.values()))


def print_table(moses: dict) -> None:
    ours = {"ours": moses["metrics"]}
    if moses["prior"] == "mixture":
        ours = {"ours, mixture": moses["metrics"],
                "ours, N(0,I)": moses["normal_prior"]["metrics"]}
    rows = ours | {m: {k: v["mean"] for k, v in r.items()} for m, r in MOSES_PUBLISHED.items()}
    print(f"{'metric':<12}" + "".join(f"{name:>14}" for name in rows))
    for name in _COLUMNS:
        print(f"{name:<12}" + "".join(f"{row[name]:>14.4f}" for row in rows.values()))
    print(f"published rows: {MOSES_SOURCE}")


# --------------------------------------------------------------------------
# Throughput


def _per_molecule_us(seconds: float, molecules: int) -> float:
    return round(seconds / max(molecules, 1) * 1e6, 1)


def _bare_parse_seconds(smiles: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of plain ``Chem.MolFromSmiles`` over ``smiles``, in this process."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        wall, cpu = time.perf_counter(), time.process_time()
        for text in smiles:
            Chem.MolFromSmiles(text)
        return time.perf_counter() - wall, time.process_time() - cpu


def _descriptor_costs(smiles: list[str]) -> dict[str, float]:
    """CPU microseconds a molecule for each property alone (QED: all it needs), then for
    all of them as ``chem.properties_many`` computes them (QED reusing the others)."""
    from molgen import chem

    def cost(names) -> float:
        mols = [chem.to_mol(s) for s in smiles]  # fresh: RDKit caches some results on a Mol
        start = time.process_time()
        chem.properties_many(mols, names)
        return _per_molecule_us(time.process_time() - start, len(mols))

    costs = {name: cost((name,)) for name in chem.PROPERTY_NAMES}
    costs["all, as chem.properties_many computes them"] = cost(chem.PROPERTY_NAMES)
    return costs


def _summary(runs: list) -> dict:
    """Median of the repeats, and the per-molecule CPU cost of each stage in the median run."""
    rates = [r.per_second for r in runs]
    median = runs[sorted(range(len(runs)), key=lambda i: rates[i])[len(runs) // 2]]
    unique = len(median.table)
    return {
        "valid_unique_per_s": {"median": round(statistics.median(rates), 1),
                               "all": [round(x, 1) for x in rates]},
        "generated": median.generated, "valid": median.valid, "valid_unique": unique,
        "wall_s": round(median.seconds, 3),
        # CPU time per stage summed over the processes, in microseconds per
        # distinct valid molecule; "sample" is torch in the main process.
        "stage_us_per_molecule": {k: _per_molecule_us(v, unique)
                                  for k, v in median.stage_seconds.items()},
        "cpu_s_per_wall_s": round(sum(median.stage_seconds.values()) / median.seconds, 2),
        # the most these stage costs allow on this machine's cores, all busy, no overhead
        "cpu_bound_per_s": round(len(os.sched_getaffinity(0)) * unique
                                 / sum(median.stage_seconds.values()), 1),
    }


def measure_throughput(task, checkpoint: Path, args) -> dict:
    """Generate + validate + de-duplicate + properties, valid unique molecules per second."""
    from molgen import chem
    from molgen.generate import sample_scored, scoring_pool

    settings = {
        "all properties": chem.PROPERTY_NAMES,
        "all but SA": tuple(p for p in chem.PROPERTY_NAMES if p != "sa"),
        "rule-of-five + Veber descriptors (no QED, SA)": tuple(
            p for p in chem.PROPERTY_NAMES if p not in ("qed", "sa")),
        "no properties (validate + canonical + dedupe)": (),
    }
    n, result = args.throughput_n, {precision: {} for precision in PRECISIONS}
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    if task.fused_sampling:  # compiled here before the one-process runs below, not in them
        for precision in PRECISIONS:
            task.sample_ids(8, precision=precision)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with scoring_pool(task, args.workers) as pool:
        # starts the workers and warms each (a chunk apiece, usually)
        sample_scored(task, 500 * args.workers, chunk_size=500, pool=pool, seed=args.seed)
        startup_s = time.perf_counter() - t0
        for label, names in settings.items():
            runs = {precision: [] for precision in PRECISIONS}
            for r in range(args.repeats):  # interleaved: the machine's noise hits both alike
                for precision in PRECISIONS:
                    runs[precision].append(sample_scored(
                        task, n, temperature=args.temperature, properties=names, pool=pool,
                        seed=args.seed + 1 + r, precision=precision))
            for precision, done in runs.items():
                result[precision][label] = _summary(done)
                if label == "all properties":
                    result[precision][label]["bare_MolFromSmiles"] = _bare_comparison(
                        done, args.workers)
                log.info("%s, %s: %.0f valid unique/s (median of %d)", label, precision,
                         result[precision][label]["valid_unique_per_s"]["median"], args.repeats)
            if label == "all properties":  # molecules for the per-property costs below
                sample = runs["float32"][0].table["smiles"].tolist()[:2000]
    for precision in PRECISIONS:
        serial = sample_scored(task, n, temperature=args.temperature, seed=args.seed + 1,
                               precision=precision)
        result[precision]["all properties, one process"] = _summary([serial])
    return {
        "checkpoint": str(checkpoint), "n_per_repeat": n, "repeats": args.repeats,
        "workers": args.workers, "torch_threads": args.threads,
        "temperature": args.temperature, "smiles_syntax": task.grammar is not None,
        "fused_sampling": task.fused_sampling, "compile_s": round(compile_s, 2),
        "pool_startup_s": round(startup_s, 2),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "goal_valid_unique_per_s": 2000, "settings": result,
        "descriptor_us_per_molecule": _descriptor_costs(sample),
    }


def _bare_comparison(runs: list, workers: int) -> dict:
    """Bare RDKit parsing of each repeat's molecules, in this process, against the pipeline."""
    bare = [_bare_parse_seconds(r.table["smiles"].tolist()) for r in runs]
    ratios = [r.seconds / wall for r, (wall, _) in zip(runs, bare, strict=True)]
    cpu_ratios = [sum(r.stage_seconds.values()) / cpu
                  for r, (_, cpu) in zip(runs, bare, strict=True)]
    middle = sorted(range(len(runs)), key=lambda i: runs[i].per_second)[len(runs) // 2]
    median, (bare_wall, bare_cpu) = runs[middle], bare[middle]
    return {"molecules": len(median.table), "wall_s": round(bare_wall, 3),
            "cpu_s": round(bare_cpu, 3), "per_s": round(len(median.table) / bare_wall, 1),
            "ratio_pipeline_to_bare_wall": {"median": round(statistics.median(ratios), 1),
                                            "all": [round(x, 1) for x in ratios]},
            "ratio_pipeline_to_bare_cpu": round(statistics.median(cpu_ratios), 1),
            "note": "one process, Chem.MolFromSmiles only; the pipeline uses "
                    f"{workers} worker processes, each sampling and scoring"}


def print_throughput(t: dict) -> None:
    print(f"\nthroughput: {t['n_per_repeat']} generated a repeat, median of {t['repeats']}, "
          f"{t['workers']} worker processes, each sampling (1 torch thread) and scoring")
    for precision, settings in t["settings"].items():
        print(f" decoder products in {precision}:")
        for label, row in settings.items():
            stages = ", ".join(f"{k} {v:.0f}" for k, v in row["stage_us_per_molecule"].items())
            print(f"  {label:<46} {row['valid_unique_per_s']['median']:>7.0f} valid unique/s "
                  f"(CPU bound {row['cpu_bound_per_s']:.0f})   [CPU us/molecule: {stages}]")
        bare = settings["all properties"]["bare_MolFromSmiles"]
        print(f"  bare Chem.MolFromSmiles of the same molecules: {bare['per_s']:.0f}/s (one "
              f"process); pipeline / bare: wall {bare['ratio_pipeline_to_bare_wall']['median']}x,"
              f" CPU {bare['ratio_pipeline_to_bare_cpu']}x")
    print("  property costs, us/molecule:", json.dumps(t["descriptor_us_per_molecule"]))


# --------------------------------------------------------------------------


def _versions() -> dict:
    from importlib.metadata import version

    import fcd_torch  # noqa: F401
    import lightning
    import rdkit
    import selfies

    return {"python": platform.python_version(), "torch": torch.__version__,
            "lightning": lightning.__version__, "rdkit": rdkit.__version__,
            "selfies": selfies.__version__, "fcd_torch": version("fcd_torch")}


def _hardware() -> dict:
    """This machine, through psutil: recorded with every row, as rows come from many runs."""
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": psutil.cpu_count(logical=True),
            "physical_cpus": psutil.cpu_count(logical=False),
            "usable_cpus": len(psutil.Process().cpu_affinity()),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in psutil.getloadavg()],
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")


def _result_key(part: str, task, precision: str = "float32") -> str:
    """Where a part's result goes in the JSON: one per tokenizer, sampling precision and
    syntax mask, ``part`` alone for SELFIES in float32 (the keys of the runs before SMILES
    models); e.g. ``moses_smiles_syntax``."""
    syntax = ("" if task.grammar is None else
              "syntax_complete" if task.complete_open_rows else "syntax")
    fused = "fused" if task.fused_sampling else ""
    return "_".join([part] + [word for word in (task.tokenizer.kind, precision, syntax, fused)
                              if word not in ("selfies", "float32", "")])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--budget-s", type=float, default=1200.0,
                    help="training wall-clock budget in seconds (default 1200: CPU)")
    ap.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "gpu"),
                    help="where to train and sample the MOSES part (auto: a GPU if there is "
                    "one); the throughput part always runs on the CPU")
    ap.add_argument("--model-size", choices=("small", "moses"),
                    help="VAEConfig.small() (default on a CPU) or the MOSES VAE's sizes "
                    "(default on a GPU)")
    ap.add_argument("--train-size", type=int,
                    help="MOSES train molecules sampled for training, 0 for all (default "
                    "200,000 on a CPU: more than the budget visits is wasted tokenising; "
                    "500,000 on a GPU)")
    ap.add_argument("-n", type=int, default=30_000, help="prior samples scored (MOSES: 30,000)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--mixture", type=int, default=50,
                    help="components of the latent mixture fitted after training, as `mol "
                    "train` fits it; the table scores samples from it and from N(0, I) "
                    "(0: N(0, I) only)")
    ap.add_argument("--complete", action="store_true",
                    help="with --syntax: drop what a row leaves open at its end (a '(' or "
                    "ring bond never closed), so that a kekule model's every row is a molecule")
    ap.add_argument("--syntax", action=argparse.BooleanOptionalAction, default=False,
                    help="SMILES models: decode under the SMILES syntax mask "
                    "(molgen.grammar), as `mol generate --syntax` does (default: without, "
                    "as MOSES samples)")
    ap.add_argument("--tokenizer", choices=("selfies", "smiles", "kekule"), default="smiles",
                    help="what the model spells molecules in when this script trains it, as "
                    "`medgen mol train` (default smiles: invalid samples count against Valid, "
                    "as in MOSES; kekule: SMILES of the Kekule form; SELFIES repairs them "
                    "into molecules far from MOSES's)")
    ap.add_argument("--checkpoint", type=Path, help="skip training, use this checkpoint")
    ap.add_argument("--run-dir", type=Path, help="where training writes (default: a temp dir)")
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    ap.add_argument("--lr-decay", action=argparse.BooleanOptionalAction, default=True,
                    help="cosine decay of the learning rate to 5%% over the budget (default; "
                    "40 CPU-minutes, SMILES: FCD/Test 1.12 against 1.26 at a constant 1e-3)")
    ap.add_argument("--kl-max", type=float, default=0.01, help="KL weight after warm-up")
    ap.add_argument("--kl-warmup-fraction", type=float, default=0.5,
                    help="share of the budget over which the KL weight warms up")
    ap.add_argument("--lr-decay-fraction", type=float, default=1.0,
                    help="share of the budget over which the learning rate decays (then "
                    "stays at 5%%)")
    # 64, not MOSES's 512: on one CPU thread a molecule costs the same at batch 64 as at
    # 256 (measured), so a fixed budget buys 4x the optimiser steps; in a 420 s A/B at
    # equal CPU time (157 s each) batch 64 reached unique@10k 0.995, FCD/Test 17.9 and
    # held-out token accuracy 0.71 against 0.951, 25.3 and 0.59 for batch 256.
    ap.add_argument("--batch-size", type=int, help="default 64 on a CPU, 512 on a GPU")
    ap.add_argument("--train-precision", choices=list(PRECISIONS), default="float32",
                    help="bfloat16: bf16 autocast over float32 weights, 1.3x the steps a "
                    "second on this CPU (AVX512-BF16); much slower on CPUs without bf16")
    ap.add_argument("--n-jobs", type=int, default=2, help="processes for the MOSES metrics")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch threads for training and the MOSES sample (default: all cores; "
                    "2 train 1.6x faster than 1 here)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=list(PRECISIONS), default="float32",
                    help="decoder products for the MOSES sample (throughput runs both)")
    ap.add_argument("--fused", action="store_true",
                    help="decode with the GRU step compiled by torch.compile "
                         "(MolVAETask.use_fused_sampling); each process compiles it first")
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the throughput part (needs --checkpoint)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--train-only", action="store_true",
                    help="only train (into --run-dir), writing what the run did to "
                    "training.json beside its checkpoints/; score it later with --checkpoint "
                    "(how a GPU run lent for minutes is split: scripts/device_moses.sh)")
    ap.add_argument("--diagnose-only", action="store_true",
                    help="only score MOSES test molecules, their reconstructions and prior "
                    "samples side by side, to show where the FCD gap comes from (needs "
                    "--checkpoint; ~4 min)")
    ap.add_argument("--tradeoff-only", action="store_true",
                    help="only score samples at lower token temperatures and drawn from the "
                    "training molecules' own posteriors, with their novelty: what moves "
                    "FCD/Test at the novelty goal (needs --checkpoint; ~5 min)")
    ap.add_argument("--diagnose-n", type=int, default=5000,
                    help="molecules a row of --diagnose-only and --tradeoff-only")
    ap.add_argument("--throughput-n", type=int, default=5000,
                    help="molecules generated per throughput repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2, help="RDKit worker processes")
    ap.add_argument("--out", type=Path, default=RESULTS, help="the JSON result file")
    args = ap.parse_args()
    if (args.throughput_only or args.diagnose_only or args.tradeoff_only) \
            and args.checkpoint is None:
        ap.error("--throughput-only, --diagnose-only and --tradeoff-only need --checkpoint")
    if args.train_only and (args.checkpoint is not None or args.run_dir is None):
        ap.error("--train-only trains into --run-dir: give --run-dir, not --checkpoint")
    if args.complete and not args.syntax:
        ap.error("--complete completes what the syntax mask tracks: give --syntax too")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for name in ("molgen_moses", "molgen"):  # Lightning has its own handler
        logging.getLogger(name).setLevel(logging.INFO)
    torch.set_num_threads(args.threads)

    from molgen.task import MolVAETask
    from training.engine import select_device

    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    # every row this run writes carries its own command, date and machine: the file
    # gathers rows from many runs on different machines
    run = {"command": shlex.join([Path(sys.executable).name, *sys.argv]),
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "hardware": _hardware(), "versions": _versions(), "torch_threads": args.threads}
    # the top-level facts earlier versions wrote described only the run that wrote last
    stale = {k: result.pop(k) for k in ("command", "hardware", "versions", "torch_threads")
             if k in result}
    if stale:
        result["top_level_facts_of_an_earlier_run"] = stale
    result |= {"last_run": run, "moses_published": MOSES_PUBLISHED,
               "moses_source": MOSES_SOURCE}
    checkpoint = args.checkpoint
    _resolve_device_defaults(args)
    if args.diagnose_only:
        device = select_device(args.accelerator)
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location=device).to(device).eval()
        diagnosis = {**run, "checkpoint": str(checkpoint),
                     **fcd_sources(task, args)}
        result[_result_key("fcd_sources", task)] = diagnosis
        print_rows(diagnosis["rows"], width=20)
        for part in ("read_back_share_of_prior_samples", "invalid_kinds"):
            if part in diagnosis:
                print(f"{part}: {json.dumps(diagnosis[part])}")
        _write(args.out, result)
        print(f"wrote {args.out}")
        return 0
    if args.tradeoff_only:
        device = select_device(args.accelerator)
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location=device).to(device).eval()
        tradeoff = {**run, "checkpoint": str(checkpoint),
                    **novelty_tradeoff(task, args)}
        result[_result_key("tradeoff", task)] = tradeoff
        print_rows(tradeoff["rows"], width=11)
        _write(args.out, result)
        print(f"wrote {args.out}")
        return 0
    if args.train_only:
        checkpoint, training = train(args, args.run_dir)
        training |= {**run, "budget_s": args.budget_s,
                     "checkpoint": str(checkpoint)}
        _write(args.run_dir / TRAINING_RECORD, training)
        print("training:", json.dumps({k: v for k, v in training.items()
                                       if k not in ("last_logged", "task_config")}))
        print(f"wrote {checkpoint} and {args.run_dir / TRAINING_RECORD}")
        return 0
    if not args.throughput_only:
        training = None
        if checkpoint is None:
            run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="molgen_moses_")) / "vae"
            checkpoint, training = train(args, run_dir)
            log.info("trained: %s", checkpoint)
        device = select_device(args.accelerator)
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location=device).to(device)
        task.eval()
        task.use_smiles_syntax(args.syntax, complete=args.complete)
        task.use_fused_sampling(args.fused)
        mixture = fit_mixture(task, checkpoint, args)
        moses = evaluate(task, args)
        key = _result_key("moses", task, args.precision)
        record = checkpoint.parent.parent / TRAINING_RECORD
        if training is None and record.is_file():  # trained by --train-only
            training = json.loads(record.read_text())
            budget_s = training["budget_s"]
        elif training is None:  # a given checkpoint: keep what its training run recorded
            earlier = result.get(key, {})
            same = earlier.get("checkpoint") == str(checkpoint)
            training, budget_s = (earlier.get("training"), earlier.get("budget_s")) if same \
                else (None, None)
        else:
            budget_s = args.budget_s
        moses |= {**run, "checkpoint": str(checkpoint),
                  "budget_s": budget_s, "training": training, "latent_mixture": mixture}
        result[key] = moses
        _write(args.out, result)  # kept even if the throughput part fails
        if training:
            print("training:", json.dumps({k: v for k, v in training.items()
                                           if k not in ("last_logged", "task_config")}))
        print_table(moses)
        print("latent code on 2,000 held-out molecules:",
              json.dumps({k: round(v, 4) for k, v in moses["latent_diagnostics"].items()}))
    if not args.skip_throughput:
        task = MolVAETask.load_from_checkpoint(checkpoint, map_location="cpu").eval()
        task.use_smiles_syntax(args.syntax, complete=args.complete)
        task.use_fused_sampling(args.fused)
        key = _result_key("throughput", task)
        result[key] = {**run,
                       **measure_throughput(task, checkpoint, args)}
        print_throughput(result[key])

    _write(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
