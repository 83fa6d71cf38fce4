"""Generation from a tiny VAE trained on a dozen real drugs: prior sampling
(valid with SELFIES, temperature, seeds), analogues ranked by Tanimoto, and
property-guided latent optimisation of QED under SA and similarity limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from molgen import chem, generate, vae
from molgen.errors import InvalidMolecule
from molgen.generate import (
    LatentOptimisationConfig,
    PropertyHead,
    chunk_seed,
    fit_property_head,
    optimise_latent,
    sample_analogues,
    sample_prior,
    sample_scored,
    sample_valid,
    scoring_pool,
)
from molgen.task import MolVAETask, MolVAETaskConfig, token_loaders
from molgen.tokenizers import fit_tokenizer
from molgen.vae import VAEConfig
from training import seed_everything

from .drugs import DRUGS


@pytest.fixture(scope="module")
def task():
    """A tiny SELFIES VAE fitted to the drugs in a plain loop (about 3 s)."""
    seed_everything(0)
    config = MolVAETaskConfig(
        model=VAEConfig(embedding_dim=32, encoder_hidden=64, decoder_hidden=128,
                        decoder_layers=1, latent_dim=16),
        lr=1e-2, kl_max=0.05, kl_warmup_steps=50)
    task = MolVAETask(config, fit_tokenizer("selfies", DRUGS))
    # 16 copies of each drug: length buckets would fill each batch with copies of one or two.
    train, _ = token_loaders(task.tokenizer, DRUGS * 16, batch_size=24, val_fraction=0.0,
                             pool_batches=1)
    optimiser = task.configure_optimizers()
    for _ in range(12):
        for batch in train:
            terms, _ = task.losses(batch)
            optimiser.zero_grad()
            terms["loss"].backward()
            optimiser.step()
    return task.eval()


def test_prior_samples_are_valid_canonical_and_reproducible(task):
    smiles = sample_prior(task, 500, batch_size=128, seed=3)
    assert len(smiles) == 500
    assert all(s is not None for s in smiles)  # SELFIES: valid by construction
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in smiles[:50])
    assert sample_prior(task, 500, batch_size=128, seed=3) == smiles
    assert sample_prior(task, 0) == []


def test_sample_valid_with_selfies_is_sample_prior(task):
    assert sample_valid(task, 300, seed=3) == (sample_prior(task, 300, seed=3), 300)
    assert sample_valid(task, 0) == ([], 0)
    with pytest.raises(ValueError, match="n >= 0"):
        sample_valid(task, -1)


@pytest.fixture(scope="module")
def untrained_smiles_task():
    """A SMILES VAE with random weights: most of what it writes is not a molecule."""
    seed_everything(1)
    config = MolVAETaskConfig(model=VAEConfig(embedding_dim=16, encoder_hidden=16,
                                              decoder_hidden=32, decoder_layers=1, latent_dim=8))
    return MolVAETask(config, fit_tokenizer("smiles", DRUGS)).eval()


def test_sample_valid_draws_again_until_it_has_n_valid(untrained_smiles_task):
    task = untrained_smiles_task
    first = sample_prior(task, 200, seed=4)
    assert 0 < sum(s is not None for s in first) < 100  # mostly invalid: worth redrawing
    added: list[int] = []
    smiles, drawn = sample_valid(task, 40, seed=4, max_draws=20_000, progress=added.append)
    assert len(smiles) == 40 and drawn > 40
    assert sum(added) == 40 and len(added) > 1  # one call a batch, valid ones only
    assert all(chem.canonical_smiles(s) == s for s in smiles)
    assert sample_valid(task, 40, seed=4, max_draws=20_000) == (smiles, drawn)
    # Its first batch is sample_prior's: the valid ones come first, in order.
    head = [s for s in sample_prior(task, 40, seed=4) if s is not None]
    assert smiles[:len(head)] == head


def test_sample_valid_stops_at_max_draws(untrained_smiles_task, monkeypatch):
    task = untrained_smiles_task
    monkeypatch.setattr(task, "sample", lambda n, **_: ["C(("] * n)  # never a molecule
    assert sample_valid(task, 10, max_draws=777, batch_size=100) == ([], 777)
    assert sample_valid(task, 10) == ([], 500)  # default: 50 draws a molecule asked for


def _slow_scored(task, n, chunk_size, seed):
    """sample_prior of each chunk with its seed, then de-duplication, then
    chem.properties: the obvious way."""
    sampled = []
    for i, start in enumerate(range(0, n, chunk_size)):
        size = min(chunk_size, n - start)
        sampled += sample_prior(task, size, batch_size=size, seed=chunk_seed(seed, i))
    kept = list(dict.fromkeys(s for s in sampled if s is not None))
    rows = [{"smiles": s, **chem.properties(s)} for s in kept]
    return pd.DataFrame(rows, columns=["smiles", *chem.PROPERTY_NAMES])


def test_sample_scored_equals_sampling_then_dedupe_then_properties(task):
    fast = sample_scored(task, 300, chunk_size=128, seed=5)
    slow = _slow_scored(task, 300, 128, 5)
    pd.testing.assert_frame_equal(fast.table, slow, check_dtype=False)
    assert fast.generated == 300 and fast.valid == 300  # SELFIES
    assert fast.table["smiles"].is_unique and len(fast.table) < 300  # repeats were dropped
    assert fast.per_second > 0
    assert set(fast.stage_seconds) == {"sample", "decode", "parse", "canonical", "properties",
                                       "merge"}
    subset = sample_scored(task, 300, chunk_size=128, properties=("qed",), seed=5)
    assert list(subset.table.columns) == ["smiles", "qed"]
    assert subset.table["qed"].tolist() == fast.table["qed"].tolist()
    assert sample_scored(task, 0).table.empty


def test_chunks_draw_from_distinct_reproducible_seeds():
    seeds = [chunk_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100 and seeds == [chunk_seed(7, i) for i in range(100)]
    assert chunk_seed(8, 0) != seeds[0] and chunk_seed(None, 3) is None
    assert all(0 <= s < 2**63 for s in seeds)  # what torch.Generator.manual_seed takes


def test_sample_scored_with_worker_processes_gives_the_same_rows(task):
    """Workers sample and score whole chunks; how many there are, and which
    finishes first, must not change a row."""
    serial = sample_scored(task, 200, chunk_size=16, seed=2)
    with scoring_pool(task, workers=2) as pool:
        pooled = sample_scored(task, 200, chunk_size=16, seed=2, pool=pool)
    pd.testing.assert_frame_equal(pooled.table, serial.table)
    assert pooled.valid == serial.valid
    assert pooled.stage_seconds["sample"] > 0  # the workers sampled


def test_the_smiles_syntax_mask_is_off_by_default_and_reaches_the_workers(
        untrained_smiles_task, task):
    smiles_task = untrained_smiles_task
    assert smiles_task.grammar is None
    task.use_smiles_syntax(True)
    assert task.grammar is None  # SELFIES: no syntax to break
    tables = {}
    for on in (True, False):
        smiles_task.use_smiles_syntax(on)
        serial = sample_scored(smiles_task, 120, chunk_size=40, seed=6, properties=())
        with scoring_pool(smiles_task, workers=2) as pool:
            pooled = sample_scored(smiles_task, 120, chunk_size=40, seed=6, pool=pool,
                                   properties=())
        pd.testing.assert_frame_equal(pooled.table, serial.table)
        tables[on] = (serial.valid, serial.table["smiles"].tolist())
    smiles_task.use_smiles_syntax(False)
    assert tables[True][1] != tables[False][1]
    # Random weights: with the mask, only chemistry (valences, aromatic rings) is left to
    # go wrong.
    assert tables[True][0] > tables[False][0]


def test_an_untrained_kekule_model_under_the_completing_syntax_mask_writes_only_molecules():
    """Kekulé SMILES leave no aromatic ring to misspell; the mask counts valences and, asked
    to, drops what a row leaves open, so even random weights write molecules, in the
    workers too."""
    seed_everything(1)
    config = MolVAETaskConfig(model=VAEConfig(embedding_dim=16, encoder_hidden=16,
                                              decoder_hidden=32, decoder_layers=1, latent_dim=8),
                              smiles_syntax=True)
    kekule = MolVAETask(config, fit_tokenizer("kekule", DRUGS)).eval()
    assert kekule.grammar is not None and not kekule.complete_open_rows
    assert kekule.grammar.capacity[kekule.tokenizer.vocabulary.index("N")] == 3
    masked = sum(s is not None for s in sample_prior(kekule, 300, seed=3))
    kekule.use_smiles_syntax(True, complete=True)
    with scoring_pool(kekule, workers=2) as pool:
        scored = sample_scored(kekule, 300, chunk_size=100, seed=3, pool=pool, properties=())
    assert scored.valid == 300
    assert sum(s is not None for s in sample_prior(kekule, 300, seed=3)) == 300
    assert masked < 300  # without completing, rows left open are not molecules
    kekule.use_smiles_syntax(False)
    assert sum(s is not None for s in sample_prior(kekule, 300, seed=3)) < masked


def test_bfloat16_sampling_is_valid_reproducible_and_reaches_the_workers(task, monkeypatch):
    rough = sample_prior(task, 200, seed=4, precision="bfloat16")
    assert all(s is not None for s in rough)
    assert sample_prior(task, 200, seed=4, precision="bfloat16") == rough
    # The precision reaches the decoder's stepper (whether a bf16 rounding flips a
    # token in a given sample depends on the model, so the samples may agree).
    dtypes, original = [], vae._GRUStepper.__init__

    def recording(self, model, z, dtype=torch.float32, fused=False):
        dtypes.append(dtype)
        original(self, model, z, dtype, fused)

    monkeypatch.setattr(vae._GRUStepper, "__init__", recording)
    sample_prior(task, 10, seed=4, precision="bfloat16")
    sample_prior(task, 10, seed=4)
    assert dtypes == [torch.bfloat16, torch.float32]
    monkeypatch.undo()
    serial = sample_scored(task, 120, chunk_size=40, seed=4, precision="bfloat16")
    with scoring_pool(task, workers=2) as pool:
        pooled = sample_scored(task, 120, chunk_size=40, seed=4, pool=pool,
                               precision="bfloat16")
    pd.testing.assert_frame_equal(pooled.table, serial.table)
    assert serial.table["smiles"].tolist() == list(dict.fromkeys(
        sample_prior(task, 40, batch_size=40, seed=chunk_seed(4, 0), precision="bfloat16")
        + sample_prior(task, 40, batch_size=40, seed=chunk_seed(4, 1), precision="bfloat16")
        + sample_prior(task, 40, batch_size=40, seed=chunk_seed(4, 2), precision="bfloat16")))


@pytest.mark.slow
def test_fused_sampling_is_off_by_default_and_reaches_the_stepper_and_the_workers(
        task, monkeypatch):
    assert not task.fused_sampling
    made, original = [], vae._GRUStepper.__init__

    def recording(self, model, z, dtype=torch.float32, fused=False):
        made.append(fused)
        original(self, model, z, dtype, fused)

    monkeypatch.setattr(vae._GRUStepper, "__init__", recording)
    eager = sample_prior(task, 100, seed=7)
    threads = torch.get_num_threads()
    task.use_fused_sampling(True)
    try:
        fused = sample_prior(task, 100, seed=7)
        assert made == [False, True]
        # The same equations: float rounding may flip a draw, rarely.
        assert sum(a == b for a, b in zip(fused, eager, strict=True)) >= 95
        serial = sample_scored(task, 80, chunk_size=40, seed=7, properties=("mw",))
        with scoring_pool(task, workers=2) as pool:  # each worker compiles as it starts
            pooled = sample_scored(task, 80, chunk_size=40, seed=7, pool=pool,
                                   properties=("mw",))
        pd.testing.assert_frame_equal(pooled.table, serial.table)
        monkeypatch.setattr(generate, "_WORKER_TASK", None)
        generate._init_worker(dict(task.hparams), task.state_dict(), None, False, False, True)
        assert generate._WORKER_TASK.fused_sampling
    finally:
        task.use_fused_sampling(False)
        torch.set_num_threads(threads)  # _init_worker sets a worker's one thread


def test_sample_scored_rejects_bad_arguments(task):
    with pytest.raises(ValueError, match="precision"):
        sample_scored(task, 10, precision="half")
    with pytest.raises(ValueError, match="unknown properties"):
        sample_scored(task, 10, properties=("logp",))
    with pytest.raises(ValueError):
        sample_scored(task, 10, chunk_size=0)
    with pytest.raises(ValueError):
        scoring_pool(task, workers=0)


def test_temperature_controls_diversity(task):
    greedy = sample_prior(task, 300, temperature=0.0, seed=0)
    hot = sample_prior(task, 300, temperature=1.5, seed=0)
    # Greedy decoding is deterministic given z, so diversity comes from z alone.
    assert len(set(hot)) > len(set(greedy))


def test_analogues_are_ranked_by_tanimoto(task):
    seeds = [DRUGS[2], DRUGS[6]]
    table = sample_analogues(task, seeds, n_samples=150, noise=2.0, temperature=1.0, seed=0)
    assert list(table.columns) == ["seed", "smiles", "tanimoto", "rank", "count"]
    assert set(table["seed"]) == {chem.canonical_smiles(s) for s in seeds}
    for seed_smiles, group in table.groupby("seed", sort=False):
        assert len(group) >= 5
        assert group["tanimoto"].is_monotonic_decreasing
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert group["smiles"].is_unique and seed_smiles not in set(group["smiles"])
        assert np.allclose(group["tanimoto"],
                           chem.tanimoto(seed_smiles, group["smiles"].tolist()))
        assert group["count"].sum() <= 150
    # The nearest analogues are closer to their seed than random prior samples are.
    prior = [s for s in sample_prior(task, 150, seed=0) if s != chem.canonical_smiles(seeds[0])]
    top = table[table["seed"] == chem.canonical_smiles(seeds[0])]["tanimoto"].head(5).mean()
    assert top > chem.tanimoto(seeds[0], prior).mean()

    filtered = sample_analogues(task, seeds[:1], n_samples=150, noise=2.0, temperature=1.0,
                                seed=0, min_tanimoto=0.3)
    assert (filtered["tanimoto"] >= 0.3).all()


def test_analogue_seeds_are_checked(task):
    with pytest.raises(InvalidMolecule, match="unclosed ring"):
        sample_analogues(task, ["C1CC"])
    with pytest.raises(TypeError, match="not one string"):
        sample_analogues(task, "CCO")
    with pytest.raises(ValueError, match="no seed"):
        sample_analogues(task, [])


@pytest.fixture(scope="module")
def head(task):
    return fit_property_head(task, DRUGS, epochs=150, seed=0)


def test_property_head_learns_qed_and_sa(task, head):
    mu, _ = task.encode_smiles(DRUGS)
    with torch.no_grad():
        predicted = head(mu).numpy()
    real = np.array([[chem.properties(s)["qed"], chem.properties(s)["sa"]] for s in DRUGS])
    assert head.properties == ("qed", "sa")
    assert np.abs(predicted - real).mean(axis=0)[0] < 0.05  # QED lies in [0, 1]
    assert np.abs(predicted - real).mean(axis=0)[1] < 0.3  # SA lies in [1, 10]
    with pytest.raises(ValueError, match="properties must be among"):
        PropertyHead(16, ("potency",))


def test_optimisation_raises_qed_under_constraints(task, head):
    """Every candidate meets the SA and Tanimoto limits for real, the head's
    screen decodes the latents it predicts best, and the search finds
    molecules with a higher real QED than the seed's."""
    # The tiny model's molecules lie far apart in latent space: a wide spread
    # lets the search leave the seed's basin.
    config = LatentOptimisationConfig(rounds=3, decodings=90, draws=3000, noise=2.0,
                                      min_tanimoto=0.2)
    result = optimise_latent(task, head, DRUGS[3], config, seed=0)  # paracetamol, QED 0.60
    assert result.seed == chem.canonical_smiles(DRUGS[3])
    trace = result.trace
    assert list(trace.groupby("round").size()) == [30, 30, 30]
    assert trace["predicted_qed"].max() <= head.high[0].item()  # clamped to the seen range
    # The screen kept the top 30 of 1,000 draws: their predictions beat the draws' median.
    z = task.encode_smiles([result.seed])[0] + 2.0 * torch.randn(
        1000, task.config.model.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        median_draw = head(z)[:, 0].median().item()
    assert trace.loc[trace["round"] == 0, "predicted_qed"].min() > median_draw
    cands = result.candidates
    assert len(cands) > 0
    assert (cands["sa"] <= 4.0).all() and (cands["tanimoto"] >= 0.2).all()
    assert cands["qed"].is_monotonic_decreasing and cands["smiles"].is_unique
    assert result.seed not in set(cands["smiles"])
    assert cands["qed"].iloc[0] > result.seed_properties["qed"]
    best = [b for b in result.best_by_round if b is not None]
    assert best == sorted(best) and best[-1] == pytest.approx(cands["qed"].iloc[0])
    for row in cands.head(3).itertuples():
        props = chem.properties(row.smiles)
        assert props["qed"] == pytest.approx(row.qed) and props["sa"] == pytest.approx(row.sa)
        assert chem.tanimoto(result.seed, [row.smiles])[0] == pytest.approx(row.tanimoto)


def test_optimisation_config_checks(head):
    for bad in (dict(rounds=0), dict(rounds=5, decodings=4), dict(decodings=100, draws=99)):
        with pytest.raises(ValueError, match="need rounds >= 1"):
            LatentOptimisationConfig(**bad)
    with pytest.raises(ValueError, match="noise must be > 0"):
        LatentOptimisationConfig(noise=0.0)
    with pytest.raises(ValueError, match="min_tanimoto"):
        LatentOptimisationConfig(min_tanimoto=1.5)
    with pytest.raises(ValueError, match="predicts"):
        head.index("mw")
