"""The one training engine: a configured Lightning ``Trainer`` around any module.

KG completion, the molecular VAE and the imaging GAN (manual optimisation,
two optimisers) all train through :func:`fit`. The module owns its loss,
sampling and metrics; this file owns the loop, devices, seeding, logging,
checkpoints, early stopping and resumption. Nothing here is global state, so
several runs (or DDP processes) can live in one program.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from torch.utils.data import DataLoader

from training.config import TrainConfig, config_to_dict
from training.engine_errors import TrainingError
from training.rng_state import RngState

log = logging.getLogger(__name__)

LAST = "last.ckpt"
TrainData = DataLoader | Iterable[DataLoader] | L.LightningDataModule | None


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch (and dataloader workers) for a reproducible run."""
    return L.seed_everything(seed, workers=True, verbose=False)


def select_accelerator(accelerator: str = "auto") -> str:
    """The accelerator "auto" resolves to here: a CUDA GPU, then Apple's MPS, then the CPU."""
    if accelerator != "auto":
        return accelerator
    if torch.cuda.is_available():
        return "gpu"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def select_device(accelerator: str = "auto") -> torch.device:
    """A torch device for work outside the Trainer (scoring, write-back)."""
    return {"gpu": torch.device("cuda"), "cuda": torch.device("cuda"),
            "mps": torch.device("mps")}.get(select_accelerator(accelerator), torch.device("cpu"))


@dataclass
class FitResult:
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_score: float | None
    metrics: dict[str, float]  # the last value of every logged metric
    epochs: int  # epochs completed in total, resumed ones included
    global_step: int
    resumed_from: Path | None
    trainer: L.Trainer = field(repr=False)


def _loggers(config: TrainConfig) -> list[Logger]:
    # One version folder per fit call: a resumed run gets version_1, ... next to
    # the first attempt's logs instead of overwriting them.
    loggers: list[Logger] = [CSVLogger(save_dir=config.run_dir, name="csv")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=config.run_dir, name="tensorboard",
                                         default_hp_metric=False))
    return loggers


def _train_loaders(data: TrainData) -> list[DataLoader]:
    """The training loaders handed to ``fit``, in a fixed order (none for a datamodule)."""
    if isinstance(data, DataLoader):
        return [data]
    if isinstance(data, dict):
        return [data[k] for k in sorted(data)]
    if isinstance(data, list | tuple):
        return [d for d in data if isinstance(d, DataLoader)]
    return []


def _callbacks(config: TrainConfig, loaders: list[DataLoader] | None = None
               ) -> tuple[list[Callback], ModelCheckpoint, bool]:
    # Two checkpoint callbacks: Lightning's own save_last only writes when the
    # monitored metric improved, but resuming needs the latest epoch, always; and at
    # the end of every training epoch, not only of the epochs that validate (a GAN
    # checks val_kid every few epochs: a kill would lose the epochs since).
    last = ModelCheckpoint(dirpath=config.checkpoint_dir, filename=LAST.removesuffix(".ckpt"),
                           monitor=None, save_top_k=1, enable_version_counter=False,
                           every_n_epochs=config.checkpoint_every_n_epochs,
                           save_on_train_epoch_end=True)
    best = last
    callbacks: list[Callback] = [last, RngState(loaders)]
    if config.monitor:
        best = ModelCheckpoint(dirpath=config.checkpoint_dir, filename="best-{epoch:03d}",
                               monitor=config.monitor, mode=config.mode, save_top_k=1,
                               every_n_epochs=config.checkpoint_every_n_epochs,
                               auto_insert_metric_name=False)
        # first: under ddp_spawn Lightning hands only the first checkpoint callback's
        # best path back to the main process
        callbacks.insert(0, best)
    if config.patience is not None:
        callbacks.append(EarlyStopping(monitor=config.monitor, mode=config.mode,
                                       patience=config.patience))
    show = config.progress_bar if config.progress_bar is not None else sys.stderr.isatty()
    if show:
        # Rich draws well in a terminal; piped to a file tqdm's plain lines read better.
        callbacks.append(RichProgressBar() if sys.stderr.isatty() else TQDMProgressBar())
    return callbacks, best, show


def build_trainer(config: TrainConfig, extra_callbacks: list[Callback] | None = None,
                  train_loaders: list[DataLoader] | None = None
                  ) -> tuple[L.Trainer, ModelCheckpoint]:
    """The configured Trainer and its best-checkpoint callback (for callers that drive it);
    ``train_loaders``: the loaders it will train on, whose random state checkpoints keep."""
    callbacks, checkpoint, show = _callbacks(config, train_loaders)
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        max_time=timedelta(seconds=config.max_time_s) if config.max_time_s else None,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,  # type: ignore[arg-type]
        logger=_loggers(config),
        callbacks=callbacks + list(extra_callbacks or []),
        enable_progress_bar=show,
        enable_model_summary=show,
        gradient_clip_val=config.gradient_clip_val,
        deterministic=config.deterministic,
        check_val_every_n_epoch=config.check_val_every_n_epoch,
        log_every_n_steps=config.log_every_n_steps,
        num_sanity_val_steps=config.num_sanity_val_steps,
        default_root_dir=config.run_dir,
    )
    return trainer, checkpoint


def _resume_path(config: TrainConfig) -> Path | None:
    last = config.checkpoint_dir / LAST
    if config.resume:
        if last.exists():
            return last
        log.info("resume asked but %s does not exist; starting a new run", last)
        return None
    if config.checkpoint_dir.exists() and any(config.checkpoint_dir.glob("*.ckpt")):
        raise TrainingError(
            f"run folder {config.run_dir} already holds checkpoints; pass resume=True to "
            "continue it, or choose another run name (or log_dir) for a new run")
    return None


def fit(module: L.LightningModule, data: TrainData, config: TrainConfig, *,
        val: DataLoader | Iterable[DataLoader] | None = None,
        callbacks: list[Callback] | None = None) -> FitResult:
    """Train ``module`` as ``config`` says and return where its checkpoints are.

    ``data`` is a training DataLoader (or several), a LightningDataModule, or
    None when the module brings its own ``train_dataloader``. ``val`` gives
    validation loaders when ``data`` is a loader. With ``config.resume`` the
    run continues from ``<run dir>/checkpoints/last.ckpt``: weights, optimiser
    state, epoch and step counters, the callbacks' state (best score,
    early-stopping patience) and the random state (``training.rng_state``) all
    come back, so it ends bit for bit where an uninterrupted run ends. ``fit``
    seeds before training; call :func:`seed_everything` before building the
    module as well when its initial weights must be reproducible.
    """
    if not module.automatic_optimization and config.gradient_clip_val is not None:
        raise TrainingError("gradient_clip_val works with automatic optimisation only; a "
                            "manually optimised module clips in its training_step "
                            "(self.clip_gradients)")
    resume_from = _resume_path(config)
    seed_everything(config.seed)
    trainer, checkpoint = build_trainer(config, callbacks, _train_loaders(data))
    if trainer.is_global_zero:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        (config.run_dir / "train_config.json").write_text(
            json.dumps(config_to_dict(config), indent=2) + "\n")
    kwargs: dict[str, Any] = {"ckpt_path": resume_from, "weights_only": True}
    if isinstance(data, L.LightningDataModule):
        kwargs["datamodule"] = data
    else:
        kwargs["train_dataloaders"] = data
        kwargs["val_dataloaders"] = val
    with warnings.catch_warnings():
        if resume_from is not None:  # expected: the folder holds the run being resumed
            warnings.filterwarnings("ignore", message="Checkpoint directory .* not empty")
        trainer.fit(module, **kwargs)

    last = config.checkpoint_dir / LAST
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    score = checkpoint.best_model_score
    return FitResult(
        run_dir=config.run_dir,
        last_checkpoint=last if last.exists() else None,
        best_checkpoint=best,
        best_score=float(score) if score is not None else None,
        metrics={k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1},
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
        resumed_from=resume_from,
        trainer=trainer,
    )
