"""What an adversarial module needs from the engine, beyond Lightning's manual optimisation.

- :class:`EMA`: an exponential moving average of a network's weights, held as a
  sub-module of the LightningModule, so it is saved in (and restored from) every
  checkpoint the engine writes, with its update count, and moves devices with its owner.
- :func:`fixed_noise_loader`: a fixed, seeded set of latent codes (and labels) used as
  the validation loader. A GAN validates by sampling: its ``validation_step`` turns the
  codes into images and scores them (e.g. KID against cached real features), and logs a
  metric that the engine's checkpoint selection and early stopping monitor as they do
  any validation metric (``TrainConfig.monitor``, ``patience``), every
  ``check_val_every_n_epoch`` epochs. The same codes every time make the scores
  comparable across epochs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class EMA(nn.Module):
    """A frozen copy of ``model`` whose weights follow the model's as an exponential moving
    average: ``ema = decay * ema + (1 - decay) * weights`` at each :meth:`update`.

    With ``warmup`` the decay starts low and rises towards ``decay`` as
    ``(1 + n) / (10 + n)`` after n updates, so early averages are not dominated by the
    random initial weights. Buffers (batch-norm statistics, spectral-norm vectors) are
    copied, not averaged. The copy always stays in eval mode.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.module = copy.deepcopy(model).requires_grad_(False).eval()
        self.decay = decay
        self.warmup = warmup
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        n = int(self.updates)
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for average, weight in zip(self.module.parameters(), model.parameters(), strict=True):
            average.lerp_(weight.detach(), 1.0 - decay)
        for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def train(self, mode: bool = True) -> EMA:
        # the owner's .train() must not switch the average's batch norm to batch statistics
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def fixed_noise_loader(num: int, latent_dim: int, *, labels: torch.Tensor | None = None,
                       seed: int = 0, batch_size: int = 256) -> DataLoader:
    """``num`` seeded standard-normal codes (num, latent_dim), with ``labels`` (num,) when
    given, in a fixed order: the same loader for every validation of a run."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randn(num, latent_dim, generator=generator)
    tensors = [codes] if labels is None else [codes, labels.long()]
    if labels is not None and len(labels) != num:
        raise ValueError(f"{len(labels)} labels for {num} codes")
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=False)
