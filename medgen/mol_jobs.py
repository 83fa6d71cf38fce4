"""Molecule jobs the CLI and the main job share: train the VAE on a corpus (then fit its
latent mixture), and find, load and describe the models such a run leaves.

A model folder written by :func:`train_vae`::

    checkpoints/last.ckpt   the model, with its latent mixture when one was fitted
    train_smiles.txt        the training molecules (novelty, --optimise, a resume)
    mol_job.json            the settings and status ("training", "trained"), to resume
    csv/, tensorboard/      the engine's logs
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medgen.errors import RunError

TRAIN_SMILES = "train_smiles.txt"  # canonical training molecules, saved next to the model
JOB = "mol_job.json"
SIZES = ("tiny", "small", "moses")


def vae_config(size: str):
    """The VAE's sizes by name: tiny (seconds on a dozen molecules: smoke tests, demos),
    small (CPU-friendly), moses (the MOSES VAE's sizes)."""
    from molgen.vae import VAEConfig

    if size == "tiny":
        return VAEConfig(embedding_dim=32, encoder_hidden=64, decoder_hidden=128,
                         decoder_layers=1, latent_dim=16)
    if size == "small":
        return VAEConfig.small()
    if size == "moses":
        return VAEConfig()
    raise RunError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)}")


@dataclass
class VAETraining:
    checkpoint: Path | None
    molecules: int
    epochs: int
    train_loss: float | None
    mixture_components: int | None  # None: no mixture fitted (N(0, I) is sampled)
    mixture_fitted_on: int | None


def train_vae(corpus: list[str], out_dir: Path, *, tokenizer: str = "smiles",
              size: str = "small", epochs: int = 100, max_time: float | None = None,
              batch_size: int = 64, lr: float = 2e-3, lr_decay: bool = True, seed: int = 0,
              precision: str = "float32", mixture: int = 50,
              on_fit_mixture: Callable[[int], None] | None = None,
              progress_bar: bool | None = None, quiet: bool = False,
              resume: bool = False) -> VAETraining:
    """Train the VAE on ``corpus`` (SMILES) into ``out_dir`` on the shared engine, then
    fit a ``mixture``-component latent mixture into its checkpoint (0: none).

    The KL weight warms up over the first half of the run and the learning rate decays
    over all of it, the run's progress being the larger of its share of the epochs' steps
    and its share of ``max_time``. ``on_fit_mixture(n)`` is called before the mixture is
    fitted on ``n`` molecules (a progress display's cue). ``quiet`` silences Lightning's
    banners (for callers that print their own progress). ``resume``: continue the
    interrupted run in ``out_dir`` from its last checkpoint (give its own settings and
    corpus: :func:`resume_settings`); it ends where an uninterrupted run would.
    """
    import contextlib
    import json

    from molgen.latent_prior import DEFAULT_FIT_MOLECULES, attach_to_checkpoint, fit_latent_mixture
    from molgen.task import MolVAETask, MolVAETaskConfig, token_loaders
    from molgen.tokenizers import fit_tokenizer
    from training import seed_everything
    from training.config import LIGHTNING_PRECISION, TrainConfig
    from training.engine import fit
    from training.quiet import quiet_lightning

    seed_everything(seed)
    try:
        vocabulary = fit_tokenizer(tokenizer, corpus)
        config = MolVAETaskConfig(model=vae_config(size), lr=lr)
        val_fraction = 0.05 if len(corpus) >= 100 else 0.0
        train_loader, val_loader = token_loaders(vocabulary, corpus, batch_size=batch_size,
                                                 val_fraction=val_fraction, seed=seed,
                                                 max_length=config.max_length)
        seed_everything(seed)
        task = MolVAETask(dataclasses.replace(
            config, budget_steps=epochs * len(train_loader), budget_seconds=max_time or 0.0,
            kl_warmup_share=0.5, lr_decay_share=1.0 if lr_decay else 0.0), vocabulary)
        out_dir = Path(out_dir).resolve()
        run = TrainConfig(max_epochs=epochs, max_time_s=max_time, seed=seed,
                          accelerator="cpu", devices=1, log_dir=str(out_dir.parent),
                          run_name=out_dir.name, num_sanity_val_steps=0,
                          log_every_n_steps=1, gradient_clip_val=50.0,
                          precision=LIGHTNING_PRECISION[precision], progress_bar=progress_bar,
                          resume=resume)
    except ValueError as e:
        raise RunError(f"cannot train: {e}") from e
    settings = dict(tokenizer=tokenizer, size=size, epochs=epochs, max_time=max_time,
                    batch_size=batch_size, lr=lr, lr_decay=lr_decay, seed=seed,
                    precision=precision, mixture=mixture)
    job = out_dir / JOB
    if not resume:  # what a resume needs, before the first checkpoint can exist
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / TRAIN_SMILES).write_text("\n".join(corpus) + "\n")
        job.write_text(json.dumps({"status": "training", "settings": settings}, indent=2))
    with quiet_lightning() if quiet else contextlib.nullcontext():
        result = fit(task, train_loader, run, val=val_loader)
    loss = result.metrics.get("train_loss")
    outcome = VAETraining(result.last_checkpoint, len(corpus), result.epochs, loss, None, None)
    if mixture and result.last_checkpoint is not None and len(corpus) >= 2:
        if on_fit_mixture is not None:
            on_fit_mixture(min(len(corpus), DEFAULT_FIT_MOLECULES))
        fitted = fit_latent_mixture(task.cpu().encode_smiles, corpus, components=mixture,
                                    seed=seed)
        attach_to_checkpoint(result.last_checkpoint, fitted)
        outcome.mixture_components, outcome.mixture_fitted_on = (fitted.components,
                                                                 fitted.fitted_on)
    job.write_text(json.dumps({"status": "trained", "settings": settings}, indent=2))
    return outcome


def resume_settings(out_dir: Path) -> tuple[list[str], dict]:
    """The corpus and settings of the interrupted `mol train` run in ``out_dir``, to pass
    to :func:`train_vae` with ``resume=True`` (RunError when it cannot be resumed)."""
    import json

    out_dir = Path(out_dir)
    job = out_dir / JOB
    if not job.is_file():
        raise RunError(f"{out_dir}: not a run folder of `medgen mol train` (no {JOB}); "
                       "give the --out of the run to continue")
    try:
        record = json.loads(job.read_text())
        settings = dict(record["settings"])
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"{job}: unreadable ({e}); start the run again") from e
    if record.get("status") == "trained":
        raise RunError(f"{out_dir} finished training already; nothing to resume")
    if not (out_dir / "checkpoints" / "last.ckpt").is_file():
        raise RunError(f"{out_dir} has no checkpoint yet (stopped in its first epoch): "
                       "start it again with `medgen mol train`")
    corpus = (out_dir / TRAIN_SMILES).read_text().split()
    return corpus, settings


def resolve_checkpoint(model: Path) -> Path:
    """The checkpoint of ``model``: a ``.ckpt`` file, or a run folder from ``mol train``."""
    if model.is_file():
        return model
    if not model.exists():
        raise RunError(f"{model}: no such model folder or checkpoint; train one with "
                       "`medgen mol train --out DIR`")
    for candidate in (model / "checkpoints" / "last.ckpt", model / "last.ckpt",
                      model / "model.ckpt"):
        if candidate.is_file():
            return candidate
    raise RunError(f"{model}: no checkpoint inside (looked for checkpoints/last.ckpt); "
                   "is this a folder written by `medgen mol train`?")


def load_model(model: Path):
    from molgen.task import MolVAETask
    from training.checkpoints import load_module

    path = resolve_checkpoint(model)
    task = load_module(MolVAETask, path, "molecule VAE checkpoint")
    return task.eval()


def training_set(model: Path) -> set[str] | None:
    folder = model if model.is_dir() else model.parent.parent
    path = folder / TRAIN_SMILES
    return set(path.read_text().split()) if path.is_file() else None
