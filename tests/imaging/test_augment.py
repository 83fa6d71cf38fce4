"""DiffAugment: each transform keeps shapes, does what it says per image, and lets the
gradient through to the images (the generator learns through it)."""

from __future__ import annotations

import pytest
import torch

from imaging.augment import (
    AUGMENTATIONS,
    brightness,
    cutout,
    diff_augment,
    parse_policy,
    translation,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_shape_kept_and_gradient_flows(name):
    images = torch.rand(6, 1, 28, 28, requires_grad=True)
    out = AUGMENTATIONS[name](images, seeded())
    assert out.shape == images.shape
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_translation_moves_a_pixel_by_whole_pixels():
    images = torch.full((64, 1, 16, 16), -1.0)
    images[:, :, 8, 8] = 1.0
    moved = translation(images, seeded(), ratio=0.125)  # at most 2 pixels each way
    for image in moved:
        where = (image[0] == 1.0).nonzero()
        assert len(where) == 1
        dy, dx = (where[0] - torch.tensor([8, 8])).tolist()
        assert abs(dy) <= 2 and abs(dx) <= 2
    assert (moved == -1.0).sum() == 64 * (16 * 16 - 1)  # uncovered border is background


def test_translation_varies_per_image():
    images = torch.rand(32, 1, 16, 16)
    moved = translation(images, seeded())
    unchanged = [torch.equal(a, b) for a, b in zip(images, moved, strict=True)]
    assert 0 < sum(unchanged) < 32


def test_cutout_blanks_one_square_per_image():
    images = torch.ones(16, 1, 16, 16)
    out = cutout(images, seeded(), ratio=0.5)
    holes = (out == 0).sum(dim=(1, 2, 3))
    assert (holes > 0).all() and (holes <= 64).all()  # an 8x8 square, clipped at borders


def test_brightness_adds_one_offset_per_image():
    images = torch.rand(8, 1, 10, 10)
    offset = brightness(images, seeded(), strength=0.25) - images
    flat = offset.flatten(1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-6)
    assert (flat.abs() <= 0.25 + 1e-6).all()


def test_policy_parsing():
    assert parse_policy("translation, cutout") == ["translation", "cutout"]
    assert parse_policy("") == []
    images = torch.rand(2, 1, 8, 8)
    assert torch.equal(diff_augment(images, ""), images)
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_policy("rotation")
