"""Differentiable augmentation for GANs on small data (the DiffAugment idea of Zhao et
al., NeurIPS 2020): the same random transforms are applied to real and generated images
before the discriminator sees them, and they are differentiable, so the generator's
gradient flows through them. The discriminator then cannot memorise a few hundred
images, and the generator is not pushed to reproduce the augmentations (they never
reach its output). Written here from the paper's description: translation, cutout and
brightness, each a vectorised per-image random transform of (batch, channels, H, W)
images in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Augmentation = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None
             ) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device="cpu").to(like.device, like.dtype)


def brightness(images: torch.Tensor, generator: torch.Generator | None = None,
               strength: float = 0.25) -> torch.Tensor:
    """Add one random offset in [-strength, strength] per image (range [-1, 1] scale)."""
    offset = (_uniform((images.shape[0], 1, 1, 1), images, generator) * 2 - 1) * strength
    return images + offset


def translation(images: torch.Tensor, generator: torch.Generator | None = None,
                ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, up to ``ratio`` of its size
    in each direction; the uncovered border is the background (-1, black)."""
    batch, _, height, width = images.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    shifts = _uniform((batch, 2), images, generator)
    dy = (shifts[:, 0] * (2 * max_dy + 1)).floor() - max_dy  # (batch,) in [-max_dy, max_dy]
    dx = (shifts[:, 1] * (2 * max_dx + 1)).floor() - max_dx
    rows = torch.arange(height, device=images.device)[None, :] - dy[:, None].long()  # (b, H)
    cols = torch.arange(width, device=images.device)[None, :] - dx[:, None].long()  # (b, W)
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width)
                                                            )[:, None, :]  # (b, H, W)
    rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    index = (rows[:, :, None] * width + cols[:, None, :]).flatten(1)  # (b, H*W)
    flat = images.flatten(2)  # (b, C, H*W)
    moved = flat.gather(2, index[:, None, :].expand(-1, images.shape[1], -1))
    moved = moved.view_as(images)
    background = torch.full_like(moved, -1.0)
    return torch.where(inside[:, None], moved, background)


def cutout(images: torch.Tensor, generator: torch.Generator | None = None,
           ratio: float = 0.5) -> torch.Tensor:
    """Blank one random square of side ``ratio`` x the image size per image (set to 0,
    mid-grey); the square may reach over the border."""
    batch, _, height, width = images.shape
    size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centres = _uniform((batch, 2), images, generator)
    top = (centres[:, 0] * (height + 1 - size_h % 2)).long() - size_h // 2  # (batch,)
    left = (centres[:, 1] * (width + 1 - size_w % 2)).long() - size_w // 2
    rows = torch.arange(height, device=images.device)[None, :]
    cols = torch.arange(width, device=images.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size_h)  # (batch, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size_w)  # (batch, W)
    hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (batch, 1, H, W)
    return images.masked_fill(hole, 0.0)


AUGMENTATIONS: dict[str, Augmentation] = {
    "brightness": brightness,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str) -> list[str]:
    """``"translation,cutout"`` as a list of known augmentation names ('' for none)."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {sorted(AUGMENTATIONS)}")
    return names


def diff_augment(images: torch.Tensor, policy: str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policy's augmentations in order, each with fresh randomness per image."""
    for name in parse_policy(policy):
        images = AUGMENTATIONS[name](images, generator)
    return images

