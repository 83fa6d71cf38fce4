"""Class-conditional DCGAN-family generator and discriminator, in registries.

The generator maps a latent vector and a class to a one-channel image in [-1, 1]:
a linear layer to a small feature map (7x7 for 28 pixels, 4x4 for 32 and 64), then
"upsample x2 + 3x3 convolution" blocks with class-conditional batch normalisation
(the class picks each block's gain and bias) and a tanh. The discriminator is a
spectrally normalised convolution stack (Miyato et al., ICLR 2018) with a projection
head (Miyato & Koyama, ICLR 2018): score = w.h + embed(class).h over summed features,
which conditions on the class without concatenating labels to pixels.

Models know nothing of training; a config dataclass rebuilds each one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from imaging.data import RESOLUTIONS


def start_size(resolution: int) -> tuple[int, int]:
    """(side of the first feature map, number of x2 steps) for a supported resolution."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    side = 7 if resolution == 28 else 4
    return side, int(math.log2(resolution // side))


@dataclass
class GeneratorConfig:
    kind: str = "dcgan"
    resolution: int = 28
    num_classes: int = 2
    latent_dim: int = 64
    base_channels: int = 64  # channels of the last block; each earlier block doubles them
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        start_size(self.resolution)
        if self.num_classes < 1 or self.latent_dim < 1 or self.base_channels < 1:
            raise ValueError("num_classes, latent_dim and base_channels must be >= 1")


@dataclass
class DiscriminatorConfig:
    kind: str = "projection"
    resolution: int = 28
    num_classes: int = 2
    base_channels: int = 64  # channels of the first block; each later block doubles them

    def __post_init__(self) -> None:
        start_size(self.resolution)
        if self.num_classes < 1 or self.base_channels < 1:
            raise ValueError("num_classes and base_channels must be >= 1")


def _maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine part; the class chooses gain and bias."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # x: (batch, C, H, W), labels: (batch,)
        gain = self.gain(labels)[:, :, None, None]
        bias = self.bias(labels)[:, :, None, None]
        return self.norm(x) * gain + bias


class UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_classes: int, sn: bool):
        super().__init__()
        self.norm = ConditionalBatchNorm2d(in_channels, num_classes)
        self.conv = _maybe_sn(nn.Conv2d(in_channels, out_channels, 3, padding=1), sn)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(x, labels))
        x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x)


class DCGANGenerator(nn.Module):
    """(batch, latent_dim) noise + (batch,) classes -> (batch, 1, R, R) images in [-1, 1]."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        side, steps = start_size(config.resolution)
        channels = [config.base_channels * 2 ** (steps - i) for i in range(steps + 1)]
        self.side = side
        self.stem = _maybe_sn(nn.Linear(config.latent_dim, channels[0] * side * side),
                              config.spectral_norm)
        self.blocks = nn.ModuleList(
            UpBlock(channels[i], channels[i + 1], config.num_classes, config.spectral_norm)
            for i in range(steps))
        self.out_norm = ConditionalBatchNorm2d(channels[-1], config.num_classes)
        self.out_conv = _maybe_sn(nn.Conv2d(channels[-1], 1, 3, padding=1), config.spectral_norm)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.stem(z).view(z.shape[0], -1, self.side, self.side)  # (batch, C0, s, s)
        for block in self.blocks:
            x = block(x, labels)
        x = torch.relu(self.out_norm(x, labels))
        return torch.tanh(self.out_conv(x))  # (batch, 1, R, R)

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(resolution={c.resolution}, classes={c.num_classes}, "
                f"latent={c.latent_dim}, base_channels={c.base_channels})")


class ProjectionDiscriminator(nn.Module):
    """(batch, 1, R, R) images + (batch,) classes -> (batch,) realness scores."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        _, steps = start_size(config.resolution)
        layers: list[nn.Module] = []
        in_channels = 1
        for i in range(steps):
            out_channels = config.base_channels * 2 ** i
            # DCGAN's strided 4x4 convolutions only: on a CPU the extra 3x3 layer per
            # resolution of SN-GAN's "standard CNN" doubles the step time
            layers += [spectral_norm(nn.Conv2d(in_channels, out_channels, 4, stride=2,
                                               padding=1)),
                       nn.LeakyReLU(0.1)]
            in_channels = out_channels
        top = config.base_channels * 2 ** steps
        layers += [spectral_norm(nn.Conv2d(in_channels, top, 3, padding=1)), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(top, 1))
        self.embed = spectral_norm(nn.Embedding(config.num_classes, top))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images).sum(dim=(2, 3))  # (batch, top)
        projection = (self.embed(labels) * h).sum(dim=1)  # (batch,)
        return self.linear(h).squeeze(1) + projection

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(resolution={c.resolution}, classes={c.num_classes}, "
                f"base_channels={c.base_channels})")


GENERATORS: dict[str, Callable[[GeneratorConfig], nn.Module]] = {"dcgan": DCGANGenerator}
DISCRIMINATORS: dict[str, Callable[[DiscriminatorConfig], nn.Module]] = {
    "projection": ProjectionDiscriminator}


def build_generator(config: GeneratorConfig) -> nn.Module:
    if config.kind not in GENERATORS:
        raise ValueError(f"unknown generator {config.kind!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[config.kind](config)


def build_discriminator(config: DiscriminatorConfig) -> nn.Module:
    if config.kind not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {config.kind!r}; known: "
                         f"{sorted(DISCRIMINATORS)}")
    return DISCRIMINATORS[config.kind](config)


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: mean relu(1 - D(real)) + mean relu(1 + D(fake))."""
    return torch.relu(1.0 - real_scores).mean() + torch.relu(1.0 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: -mean D(fake)."""
    return -fake_scores.mean()
