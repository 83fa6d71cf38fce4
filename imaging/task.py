"""Adversarial training of the class-conditional GAN on the shared engine.

:class:`GANTask` is the ``LightningModule`` that :func:`training.fit` trains with
Lightning's manual optimisation (two optimisers, one loop: the engine's). It holds the
generator, the discriminator and the EMA generator (:class:`training.gan.EMA`, a
sub-module, so every checkpoint carries it) and saves its config as a plain dict, so
``GANTask.load_from_checkpoint(path)`` rebuilds a ready-to-sample model::

    task = GANTask(GANTaskConfig.for_data(resolution=28, num_classes=2))
    result = training.fit(task, image_loader(images, labels), TrainConfig(max_epochs=50))
    task = GANTask.load_from_checkpoint(result.last_checkpoint)
    images = task.sample(labels, seed=0)  # (N, 1, R, R) uint8, from the EMA generator

Each batch makes ``d_steps`` discriminator updates (hinge loss on DiffAugmented real
and generated images of the batch's classes) and one generator update, then updates the
EMA. Validation samples the fixed codes of :func:`training.gan.fixed_noise_loader` with
the EMA generator and, when a monitor is attached (:meth:`attach_monitor`, e.g.
:class:`imaging.metrics.KIDMonitor`), logs ``val_kid`` for checkpoint selection and
early stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from imaging.augment import diff_augment, parse_policy
from imaging.models import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    hinge_d_loss,
    hinge_g_loss,
)
from training.config import config_from, config_to_dict
from training.gan import EMA

MONITOR = "val_kid"


class SampleMonitor(Protocol):
    def add(self, images: torch.Tensor) -> None: ...
    def compute(self) -> float: ...


@dataclass
class GANTaskConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    # 5e-4, 3 discriminator steps and translation only: in 300 s screens on one CPU thread
    # (BreastMNIST, the PneumoniaMNIST subset) the discriminator stayed near chance at 1
    # step, and it is cheap beside the generator; 2e-4 learnt slower, 1e-3 was unstable;
    # cutout and brightness did not help (docs/imaging.md)
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.0  # Adam betas (0, 0.9): the usual choice for SN-GANs with hinge loss
    beta2: float = 0.9
    d_steps: int = 3  # discriminator updates per generator update
    augment: str = "translation"  # DiffAugment: translation, cutout, brightness; "" none
    ema_decay: float = 0.999

    def __post_init__(self) -> None:
        if isinstance(self.generator, Mapping):
            self.generator = config_from(GeneratorConfig, self.generator)
        if isinstance(self.discriminator, Mapping):
            self.discriminator = config_from(DiscriminatorConfig, self.discriminator)
        g, d = self.generator, self.discriminator
        if (g.resolution, g.num_classes) != (d.resolution, d.num_classes):
            raise ValueError(f"generator ({g.resolution} px, {g.num_classes} classes) and "
                             f"discriminator ({d.resolution} px, {d.num_classes} classes) "
                             "must agree")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("learning rates must be > 0")
        if self.d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {self.d_steps}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        parse_policy(self.augment)

    @classmethod
    def for_data(cls, resolution: int, num_classes: int, *, generator_channels: int = 64,
                 discriminator_channels: int = 64, latent_dim: int = 64, **kwargs: Any
                 ) -> GANTaskConfig:
        return cls(generator=GeneratorConfig(resolution=resolution, num_classes=num_classes,
                                             latent_dim=latent_dim,
                                             base_channels=generator_channels),
                   discriminator=DiscriminatorConfig(resolution=resolution,
                                                     num_classes=num_classes,
                                                     base_channels=discriminator_channels),
                   **kwargs)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as uint8 in [0, 255]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, R, R) as float (N, 1, R, R) in [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]


def image_loader(images: np.ndarray, labels: np.ndarray, *, batch_size: int = 64,
                 seed: int = 0) -> DataLoader:
    """Shuffled training batches of (images (B, 1, R, R) in [-1, 1], labels (B,))."""
    dataset = TensorDataset(from_uint8(images), torch.from_numpy(labels.astype(np.int64)))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True,
                      drop_last=len(dataset) > batch_size,
                      generator=torch.Generator().manual_seed(seed))


class GANTask(L.LightningModule):
    """Generator, discriminator, EMA generator, and the hinge-loss objective."""

    def __init__(self, config: GANTaskConfig | Mapping[str, Any] | None = None):
        super().__init__()
        self.config = config_from(GANTaskConfig, config)
        self.save_hyperparameters({"config": config_to_dict(self.config)})
        self.automatic_optimization = False
        self.generator = build_generator(self.config.generator)
        self.discriminator = build_discriminator(self.config.discriminator)
        self.generator_ema = EMA(self.generator, decay=self.config.ema_decay)
        self._monitor: SampleMonitor | None = None

    @property
    def latent_dim(self) -> int:
        return self.config.generator.latent_dim

    @property
    def num_classes(self) -> int:
        return self.config.generator.num_classes

    def attach_monitor(self, monitor: SampleMonitor | None) -> None:
        """Score validation samples with ``monitor`` (kept outside the module's state)."""
        self._monitor = monitor

    # -- training --------------------------------------------------------------------------

    def configure_optimizers(self):
        betas = (self.config.beta1, self.config.beta2)
        return (torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr_d,
                                 betas=betas))

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, labels = batch  # (B, 1, R, R) in [-1, 1], (B,)
        opt_g, opt_d = self.optimizers()
        policy, n = self.config.augment, real.shape[0]
        for _ in range(self.config.d_steps):
            with torch.no_grad():
                fake = self.generator(self._noise(n), labels)
            real_scores = self.discriminator(diff_augment(real, policy), labels)
            fake_scores = self.discriminator(diff_augment(fake, policy), labels)
            d_loss = hinge_d_loss(real_scores, fake_scores)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
        fake = self.generator(self._noise(n), labels)  # generated with the batch's classes
        g_loss = hinge_g_loss(self.discriminator(diff_augment(fake, policy), labels))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.generator_ema.update(self.generator)
        self.log_dict({"d_loss": d_loss, "g_loss": g_loss,
                       "d_real": real_scores.mean(), "d_fake": fake_scores.mean()},
                      prog_bar=True, batch_size=n)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        codes, labels = batch
        if self._monitor is not None:
            self._monitor.add(to_uint8(self.generator_ema(codes, labels)))

    def on_validation_epoch_end(self) -> None:
        if self._monitor is not None:
            value = self._monitor.compute()
            if not self.trainer.sanity_checking:
                self.log(MONITOR, value, prog_bar=True)

    # -- sampling --------------------------------------------------------------------------

    @torch.inference_mode()
    def sample(self, labels: np.ndarray | torch.Tensor, *, seed: int = 0, batch_size: int = 256,
               ema: bool = True) -> torch.Tensor:
        """uint8 images (N, 1, R, R) of the given classes; the same seed and labels give
        the same images (the codes come from a generator seeded with ``seed``)."""
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"classes must lie in [0, {self.num_classes}), got "
                             f"{labels.min().item()}..{labels.max().item()}")
        network = self.generator_ema if ema else self.generator
        was_training = network.training
        network.eval()
        codes = torch.randn(len(labels), self.latent_dim,
                            generator=torch.Generator().manual_seed(seed))
        try:
            out = [to_uint8(network(codes[i:i + batch_size].to(self.device),
                                    labels[i:i + batch_size].to(self.device))).cpu()
                   for i in range(0, len(labels), batch_size)]
        finally:
            network.train(was_training)
        if not out:
            return torch.empty(0, 1, self.config.generator.resolution,
                               self.config.generator.resolution, dtype=torch.uint8)
        return torch.cat(out)
