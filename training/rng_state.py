"""Random-number state in checkpoints, so that a resumed run continues bit for bit where
an uninterrupted one with the same seed goes.

Lightning's checkpoints hold weights, optimiser and loop state but no random state: a run
resumed at epoch k would draw its dropout masks, negatives, noise and augmentations, and
shuffle its batches, as a fresh run does at epoch 1. :class:`RngState` adds to every
checkpoint the state of Python's, NumPy's and torch's global generators (CUDA's too, when
present) and of the training loaders' own ``torch.Generator`` (a seeded loader's shuffle
order). A checkpoint is written at the end of a training epoch, after its validation; the
uninterrupted run next draws when it opens the next epoch's batches (a DataLoader iterator
takes a seed as it is made). A resumed run opens its first batches before the first epoch
hook, so the states go back at ``on_fit_start``, and again after the sanity validation
when one runs (it may draw, and the uninterrupted run did not at that point).

Everything is stored as tensors, ints and tuples, so ``torch.load(weights_only=True)``
still reads the checkpoint.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from training.engine_errors import TrainingError

KEY = "rng_states"


def _generators(loader: Any) -> list[torch.Generator]:
    """A loader's own generators, each once: its ``generator`` (the seed an iterator takes)
    and those of its sampler and batch sampler (the order of the batches)."""
    found: list[torch.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(loader, "batch_sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def capture(loaders: list[DataLoader]) -> dict[str, Any]:
    """The states of every generator a training epoch draws from."""
    algorithm, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"algorithm": str(algorithm), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "loaders": [[g.get_state() for g in _generators(loader)] for loader in loaders],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore(loaders: list[DataLoader], states: dict[str, Any]) -> None:
    """Put ``states`` (from :func:`capture`) back into the generators."""
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state((n["algorithm"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if len(loaders) != len(states["loaders"]):
        raise TrainingError(f"the checkpoint has the random state of {len(states['loaders'])} "
                         f"training loaders, this run has {len(loaders)}")
    for loader, saved in zip(loaders, states["loaders"], strict=True):
        generators = _generators(loader)
        if len(generators) != len(saved):
            raise TrainingError("a training loader's own generators differ between the "
                             "checkpoint and this run (seeded in one, not the other)")
        for generator, state in zip(generators, saved, strict=True):
            generator.set_state(state)


class RngState(Callback):
    """Saves the random state with every checkpoint and restores it on resume.

    ``loaders`` are the training loaders handed to the Trainer (their generators are
    restored before Lightning opens them); a loader a module builds itself in
    ``train_dataloader`` should draw from torch's global generator, as Lightning opens it
    before any hook could restore one of its own.
    """

    def __init__(self, loaders: list[DataLoader] | None = None) -> None:
        self.loaders = list(loaders or [])
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[KEY] = capture(self.loaders)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint.get(KEY)  # None: a checkpoint from before this callback

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            restore(self.loaders, self._pending)

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            restore(self.loaders, self._pending)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pending = None
