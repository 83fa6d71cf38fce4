"""training.gan: the EMA copy (update rule, warm-up, in the owner's state dict, always in
eval mode) and the fixed noise loader a GAN validates with."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.gan import EMA, fixed_noise_loader


def test_ema_update_follows_the_rule():
    model = nn.Linear(2, 1)
    ema = EMA(model, decay=0.9, warmup=False)
    before = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, 0.9 * before + 0.1 * model.weight)
    assert int(ema.updates) == 1


def test_ema_warmup_starts_low_and_reaches_decay():
    ema = EMA(nn.Linear(1, 1), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    ema.updates.fill_(100_000)
    assert ema.current_decay() == 0.999


def test_ema_copies_buffers_and_never_trains():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = EMA(model)
    model.train()
    model(torch.randn(8, 3) + 5)  # moves the running mean
    ema.update(model)
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)
    owner = nn.Module()
    owner.ema = ema
    owner.train()
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.parameters())


def test_ema_lives_in_the_owners_state_dict():
    owner = nn.Module()
    owner.net = nn.Linear(2, 2)
    owner.net_ema = EMA(owner.net)
    keys = owner.state_dict().keys()
    assert "net_ema.module.weight" in keys and "net_ema.updates" in keys


def test_fixed_noise_loader_is_the_same_every_time():
    labels = torch.tensor([0, 1, 1, 0, 2])
    first = [b for b in fixed_noise_loader(5, 4, labels=labels, seed=7, batch_size=2)]
    second = [b for b in fixed_noise_loader(5, 4, labels=labels, seed=7, batch_size=2)]
    for (za, ya), (zb, yb) in zip(first, second, strict=True):
        assert torch.equal(za, zb) and torch.equal(ya, yb)
    assert torch.cat([y for _, y in first]).tolist() == labels.tolist()
    with pytest.raises(ValueError, match="labels for"):
        fixed_noise_loader(3, 4, labels=labels)
