"""The latent mixture fitted after training: the fit, sampling from it, the task's
use of it, and its way through a checkpoint and into worker processes."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from molgen.generate import chunk_seed, sample_prior, sample_scored, scoring_pool
from molgen.latent_prior import (
    CHECKPOINT_KEY,
    LatentMixture,
    attach_to_checkpoint,
    fit_latent_mixture,
)
from molgen.task import MolVAETask, MolVAETaskConfig
from molgen.tokenizers import fit_tokenizer
from molgen.vae import VAEConfig
from training import seed_everything

from .drugs import DRUGS


def _two_clusters(n: int = 3000) -> torch.Tensor:
    """30% of the points around (4, 4, 0, 0), 70% around (-4, 0, 0, 0), unequal spreads."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(int(0.3 * n), 4, generator=g) * 0.5 + torch.tensor([4.0, 4.0, 0.0, 0.0])
    b = torch.randn(n - len(a), 4, generator=g) * torch.tensor([1.0, 0.2, 0.2, 0.2]) \
        + torch.tensor([-4.0, 0.0, 0.0, 0.0])
    return torch.cat([a, b])


def test_mixture_recovers_two_clusters_and_samples_them():
    mixture = LatentMixture.fit(_two_clusters(), components=2)
    assert mixture.components == 2 and mixture.latent_dim == 4 and mixture.fitted_on == 3000
    order = mixture.means[:, 0].argsort(descending=True)
    assert mixture.weights[order].tolist() == pytest.approx([0.3, 0.7], abs=0.01)
    assert mixture.means[order[0]].tolist() == pytest.approx([4, 4, 0, 0], abs=0.1)
    z = mixture.sample(20_000, generator=torch.Generator().manual_seed(1))
    near_a = z[:, 0] > 0
    assert near_a.float().mean().item() == pytest.approx(0.3, abs=0.02)
    # each component's spread comes back: 0.5 in every direction for the first,
    # 1.0 along x and 0.2 across it for the second
    assert z[near_a].std(dim=0).tolist() == pytest.approx([0.5] * 4, abs=0.05)
    assert z[~near_a].std(dim=0).tolist() == pytest.approx([1.0, 0.2, 0.2, 0.2], abs=0.05)


def test_mixture_samples_are_reproducible_and_round_trip_a_dict():
    mixture = LatentMixture.fit(_two_clusters(600), components=2)
    first = mixture.sample(50, generator=torch.Generator().manual_seed(3))
    again = LatentMixture.from_dict(mixture.to_dict()).sample(
        50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert not torch.equal(first, mixture.sample(50, generator=torch.Generator().manual_seed(4)))


def test_mixture_keeps_enough_codes_a_component_and_checks_its_input():
    # 40 codes in 8 dimensions carry no 50 covariances: 5 components, 8 codes each
    assert LatentMixture.fit(torch.randn(40, 8), components=50).components == 5
    assert LatentMixture.fit(torch.randn(5, 8), components=50).components == 1
    with pytest.raises(ValueError, match="at least 2 latent codes"):
        LatentMixture.fit(torch.randn(1, 8))
    with pytest.raises(ValueError, match="at least 2 latent codes"):
        LatentMixture.fit(torch.randn(10))
    with pytest.raises(ValueError, match="components must be >= 1"):
        LatentMixture.fit(torch.randn(40, 8), components=0)
    with pytest.raises(ValueError, match="inconsistent mixture shapes"):
        LatentMixture(torch.ones(2) / 2, torch.zeros(2, 3), torch.eye(4).expand(2, 4, 4))
    with pytest.raises(ValueError, match="not a latent mixture"):
        LatentMixture.from_dict({"weights": torch.ones(1)})


@pytest.fixture()
def task():
    seed_everything(0)
    config = MolVAETaskConfig(model=VAEConfig(embedding_dim=16, encoder_hidden=32,
                                              decoder_hidden=64, decoder_layers=1,
                                              latent_dim=8))
    return MolVAETask(config, fit_tokenizer("selfies", DRUGS)).eval()


def _point_mixture(at: torch.Tensor) -> LatentMixture:
    """All its mass within 1e-6 of ``at``."""
    d = len(at)
    return LatentMixture(torch.ones(1), at[None], torch.eye(d)[None] * 1e-6)


def test_task_draws_from_its_mixture_unless_told_otherwise(task):
    with pytest.raises(ValueError, match="no fitted latent mixture"):
        task.draw_latents(4, prior="mixture")
    with pytest.raises(ValueError, match="prior must be one of"):
        task.draw_latents(4, prior="uniform")
    assert task.draw_latents(1000).std().item() == pytest.approx(1.0, abs=0.1)  # N(0, I)
    at = torch.linspace(-2, 2, 8)
    task.latent_mixture = _point_mixture(at)
    for prior in ("auto", "mixture"):
        z = task.draw_latents(100, prior=prior)
        assert torch.allclose(z, at.expand(100, 8), atol=1e-4)
    assert task.draw_latents(1000, prior="normal").std().item() == pytest.approx(1.0, abs=0.1)
    # every greedy sample is then the molecule that point decodes to
    expected = task.decode_latent(at[None], temperature=0.0)[0]
    assert set(task.sample(20, temperature=0.0)) == {expected}
    assert set(task.sample(20, temperature=0.0, prior="normal")) != {expected}


def test_fit_latent_mixture_uses_posterior_means_of_a_seeded_sample(task):
    import numpy as np

    corpus = DRUGS * 3
    mixture = fit_latent_mixture(task.encode_smiles, corpus, components=1,
                                 max_molecules=20, seed=0)
    assert mixture.fitted_on == 20 and mixture.components == 1
    # A one-component fit is the mean of the codes it saw: exactly the posterior means
    # (not samples) of the seeded 20 molecules.
    picked = sorted(np.random.default_rng(0).choice(len(corpus), 20, replace=False))
    codes, _ = task.encode_smiles([corpus[i] for i in picked])
    assert torch.allclose(mixture.means[0], codes.mean(dim=0), atol=1e-5)
    again = fit_latent_mixture(task.encode_smiles, corpus, components=1,
                               max_molecules=20, seed=0)
    assert torch.equal(again.means, mixture.means)
    other = fit_latent_mixture(task.encode_smiles, corpus, components=1,
                               max_molecules=20, seed=1)
    assert not torch.equal(other.means, mixture.means)  # the seed picks the sample


def test_checkpoint_carries_the_mixture(task, tmp_path):
    path = tmp_path / "model.ckpt"
    checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams),
                  "pytorch-lightning_version": "2.0.0"}
    torch.save(checkpoint, path)
    assert MolVAETask.load_from_checkpoint(path).latent_mixture is None
    mixture = _point_mixture(torch.arange(8.0))
    attach_to_checkpoint(path, mixture)
    assert not path.with_name("model.ckpt.partial").exists()
    loaded = MolVAETask.load_from_checkpoint(path)
    assert torch.equal(loaded.latent_mixture.means, mixture.means)
    assert torch.equal(torch.load(path, weights_only=True)[CHECKPOINT_KEY]["scale_tril"],
                       mixture.scale_tril)
    # and the task writes it back when Lightning saves it
    saved: dict = {}
    loaded.on_save_checkpoint(saved)
    assert torch.equal(saved[CHECKPOINT_KEY]["means"], mixture.means)
    loaded.on_fit_start()  # new weights: the old codes' mixture no longer applies
    assert loaded.latent_mixture is None
    attach_to_checkpoint(path, _point_mixture(torch.zeros(5)))  # not this model's latent
    with pytest.raises(ValueError, match="5-dimensional, its model's latent 8"):
        MolVAETask.load_from_checkpoint(path)


def test_worker_processes_sample_from_the_mixture(task):
    task.latent_mixture = LatentMixture.fit(torch.randn(400, 8) * 0.3 + 1.0, components=2)
    serial = sample_scored(task, 96, chunk_size=32, seed=6)
    with scoring_pool(task, workers=2) as pool:
        pooled = sample_scored(task, 96, chunk_size=32, seed=6, pool=pool)
    pd.testing.assert_frame_equal(pooled.table, serial.table)
    normal = sample_scored(task, 96, chunk_size=32, seed=6, prior="normal")
    assert normal.table["smiles"].tolist() != serial.table["smiles"].tolist()
    first_chunk = sample_prior(task, 32, batch_size=32, seed=chunk_seed(6, 0))
    assert serial.table["smiles"].tolist()[:5] == list(dict.fromkeys(first_chunk))[:5]
