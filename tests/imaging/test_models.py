"""Generator and discriminator: shapes at 28, 32 and 64 pixels, class conditioning,
spectral norm, registries and config errors, and the hinge losses' signs."""

from __future__ import annotations

import pytest
import torch

from imaging.models import (
    DISCRIMINATORS,
    GENERATORS,
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    hinge_d_loss,
    hinge_g_loss,
)


@pytest.mark.parametrize("resolution", [28, 32, 64])
def test_shapes(resolution):
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig(resolution=resolution, num_classes=3,
                                                latent_dim=8, base_channels=4))
    discriminator = build_discriminator(DiscriminatorConfig(resolution=resolution,
                                                            num_classes=3, base_channels=4))
    labels = torch.tensor([0, 1, 2, 1])
    images = generator(torch.randn(4, 8), labels)
    assert images.shape == (4, 1, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, labels).shape == (4,)


def test_class_changes_the_image_and_the_score():
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig(num_classes=2, latent_dim=8, base_channels=4))
    discriminator = build_discriminator(DiscriminatorConfig(num_classes=2, base_channels=4))
    with torch.no_grad():  # give the classes different gains than the initial ones
        for module in generator.modules():
            if isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
    generator.eval()
    z = torch.randn(1, 8)
    a, b = generator(z, torch.tensor([0])), generator(z, torch.tensor([1]))
    assert not torch.allclose(a, b)
    images = torch.rand(1, 1, 28, 28)
    assert not torch.allclose(discriminator(images, torch.tensor([0])),
                              discriminator(images, torch.tensor([1])))


def test_discriminator_is_spectrally_normalised():
    discriminator = build_discriminator(DiscriminatorConfig(base_channels=4))
    parametrized = [m for m in discriminator.modules() if hasattr(m, "parametrizations")]
    weighted = [m for m in discriminator.modules()
                if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | torch.nn.Embedding)]
    assert len(parametrized) == len(weighted) > 0


def test_registries_and_config_errors():
    assert "dcgan" in GENERATORS and "projection" in DISCRIMINATORS
    with pytest.raises(ValueError, match="unknown generator"):
        build_generator(GeneratorConfig(kind="stylegan"))
    with pytest.raises(ValueError, match="resolution must be one of"):
        GeneratorConfig(resolution=48)
    with pytest.raises(ValueError, match="must be >= 1"):
        DiscriminatorConfig(num_classes=0)


def test_hinge_losses_signs():
    confident = hinge_d_loss(torch.tensor([1.5, 2.0]), torch.tensor([-1.5, -3.0]))
    assert confident.item() == 0.0  # real scored >= 1 and fake <= -1: nothing to learn
    fooled = hinge_d_loss(torch.tensor([-1.0]), torch.tensor([1.0]))
    assert fooled.item() == pytest.approx(4.0)
    # the generator's loss falls as the discriminator scores its images as more real
    assert hinge_g_loss(torch.tensor([2.0])) < hinge_g_loss(torch.tensor([-2.0]))
    assert hinge_g_loss(torch.tensor([0.5, 1.5])).item() == pytest.approx(-1.0)
