"""The molecular VAE on a dozen real drugs: shapes and argument checks, the
batched sampler against step-by-step teacher forcing, KL annealing, a model
that overfits the drugs through the shared engine, and the checkpoint round
trip that rebuilds model and vocabulary."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from molgen import chem
from molgen.task import (
    LengthBucketSampler,
    MolVAETask,
    MolVAETaskConfig,
    canonical_or_none,
    kl_divergence,
    kl_weight,
    lr_factor,
    run_progress,
    token_loader,
    token_loaders,
)
from molgen.tokenizers import BOS, EOS, PAD, UNK, fit_tokenizer
from molgen.vae import VAE, VAEConfig, _GRUStepper, draw_tokens
from training import TrainConfig, fit, seed_everything

from .drugs import DRUGS

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

TINY = VAEConfig(embedding_dim=32, encoder_hidden=64, decoder_hidden=128, decoder_layers=1,
                 latent_dim=16)


def tiny_task(kind: str = "selfies", **overrides) -> MolVAETask:
    seed_everything(0)
    config = MolVAETaskConfig(model=TINY, lr=1e-2, kl_max=0.01, kl_warmup_steps=50,
                              max_length=80, **overrides)
    return MolVAETask(config, fit_tokenizer(kind, DRUGS))


def test_forward_shapes():
    model = VAE(dataclasses.replace(TINY, vocab_size=20))
    tokens = torch.tensor([[BOS, 5, 6, 7, EOS], [BOS, 8, EOS, PAD, PAD]])
    out = model(tokens)
    assert out.logits.shape == (2, 4, 20)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (2, 16)
    # A padded sequence encodes as it does alone: padding must not leak in.
    mu_alone, _ = model.encode(tokens[1:, :3])
    assert torch.allclose(model.encode(tokens)[0][1], mu_alone[0], atol=1e-6)
    assert "decoder=1x128" in repr(model)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocab_size": None}, "vocab_size is not set"),
        ({"latent_dim": 0}, "latent_dim must be >= 1"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"eos_id": 0}, "must be distinct ids"),
    ],
)
def test_bad_configs_fail_in_init(change, message):
    with pytest.raises(ValueError, match=message):
        VAE(dataclasses.replace(TINY, **{"vocab_size": 20, **change}))


def test_greedy_sampler_agrees_with_teacher_forcing():
    """The batched sampler (open rows dropped as they finish) and the
    teacher-forced decoder are two code paths; fed the sampler's own tokens,
    the decoder's argmax must reproduce them."""
    torch.manual_seed(0)
    model = VAE(dataclasses.replace(TINY, vocab_size=12, decoder_layers=2)).eval()
    z = torch.randn(64, 16)
    ids = model.sample(z, max_length=30, temperature=0.0)
    assert ids.shape == (64, 31)
    inputs = torch.cat([torch.full((64, 1), BOS), ids[:, :-1]], dim=1)
    with torch.no_grad():
        expected = model.decode(z, inputs).argmax(dim=-1)  # unconstrained argmax
    for row, want in zip(ids, expected, strict=True):
        n = int((row == EOS).nonzero()[0]) + 1
        steps = row[:n]
        # where the mask allowed it, the sampler's choice is the decoder's argmax
        allowed = (want[:n] != PAD) & (want[:n] != BOS)
        allowed[0] &= want[0] != EOS
        allowed[-1] &= n < 31
        assert torch.equal(steps[allowed], want[:n][allowed])
        assert (row[n:] == PAD).all()


def test_sampling_step_is_the_decoder_gru():
    """The sampler's GRU step (first-layer input products read from tables) gives
    nn.GRU's outputs and states on the same tokens, layer by layer."""
    torch.manual_seed(0)
    model = VAE(dataclasses.replace(TINY, vocab_size=12, decoder_layers=3)).eval()
    z, tokens = torch.randn(20, 16), torch.randint(0, 12, (20, 5))
    stepper, h = _GRUStepper(model, z), model.initial_hidden(z)
    mine = list(h)
    with torch.no_grad():
        for step in range(tokens.shape[1]):
            x = torch.cat([model.embedding(tokens[:, step]), z], dim=-1).unsqueeze(1)
            o, h = model.decoder(x, h)
            out, mine = stepper(tokens[:, step], mine)
            assert torch.allclose(out, o.squeeze(1), atol=1e-5)
            assert torch.allclose(torch.stack(mine), h, atol=1e-5)
    keep = torch.arange(20) % 3 != 0  # rows dropped as they finish keep their own z
    stepper.keep(keep)
    out, _ = stepper(tokens[keep, 0], [state[keep] for state in mine])
    with torch.no_grad():
        x = torch.cat([model.embedding(tokens[keep, 0]), z[keep]], dim=-1).unsqueeze(1)
        o, _ = model.decoder(x, h[:, keep].contiguous())
    assert torch.allclose(out, o.squeeze(1), atol=1e-5)


def test_bfloat16_step_stays_close_to_the_float32_step():
    """bf16 products round the gates' inputs (8-bit mantissa): the states move by
    about 1e-2 at most, the float32 tables are untouched, and greedy decoding
    of a random model mostly picks the same tokens."""
    torch.manual_seed(0)
    model = VAE(dataclasses.replace(TINY, vocab_size=12, decoder_layers=2)).eval()
    z, tokens = torch.randn(64, 16), torch.randint(0, 12, (64, 6))
    exact, rough = _GRUStepper(model, z), _GRUStepper(model, z, torch.bfloat16)
    assert rough.token_gates.dtype == rough.row_gates.dtype == torch.float32
    h32 = h16 = list(model.initial_hidden(z))
    with torch.no_grad():
        for step in range(tokens.shape[1]):
            o32, h32 = exact(tokens[:, step], h32)
            o16, h16 = rough(tokens[:, step], h16)
            assert o16.dtype == torch.float32
            gap = (o16 - o32).abs().max().item()
            assert 0 < gap < 3e-2  # rounded, but only just
    ids32 = model.sample(z, max_length=20, temperature=0.0)
    ids16 = model.sample(z, max_length=20, temperature=0.0, precision="bfloat16")
    assert (ids32[:, :3] == ids16[:, :3]).float().mean() > 0.9
    with pytest.raises(ValueError, match="precision"):
        model.sample(z, precision="float16")


@pytest.mark.slow
def test_fused_step_is_the_eager_step():
    """The compiled step (torch.compile) computes the eager step's equations, layer by
    layer, for both precisions and as the batch shrinks; greedy decoding agrees."""
    torch.manual_seed(0)
    model = VAE(dataclasses.replace(TINY, vocab_size=12, decoder_layers=2)).eval()
    z, tokens = torch.randn(40, 16), torch.randint(0, 12, (40, 6))
    keep = torch.arange(40) % 3 != 0
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            eager, fused = _GRUStepper(model, z, dtype), _GRUStepper(model, z, dtype, fused=True)
            h = list(model.initial_hidden(z))
            for step in range(tokens.shape[1] + 1):
                if step == tokens.shape[1]:  # rows leave the batch, as they finish
                    eager.keep(keep)
                    fused.keep(keep)
                    h, token = [layer[keep] for layer in h], tokens[keep, 0]
                else:
                    token = tokens[:, step]
                _, want = eager(token, h)
                _, got = fused(token, h)  # from the same states: no drift to compound
                # The first layer's inputs are the same bits either way; above it, the
                # input is the layer below's output, which bf16 rounds again.
                assert torch.allclose(got[0], want[0], atol=1e-5), (dtype, step)
                tolerance = 1e-5 if dtype == torch.float32 else 1e-2
                assert torch.allclose(got[1], want[1], atol=tolerance), (dtype, step)
                h = want
    ids = model.sample(z, max_length=20, temperature=0.0)
    assert torch.equal(model.sample(z, max_length=20, temperature=0.0, fused=True), ids)


@pytest.mark.slow
def test_fused_step_without_a_compiler_is_a_clear_error(tmp_path):
    # A fresh process and compile cache, so that nothing compiled earlier is reused.
    script = ("import torch\n"
              "from molgen.errors import MolgenError\n"
              "from molgen.vae import VAE, VAEConfig\n"
              "model = VAE(VAEConfig(vocab_size=12, embedding_dim=8, encoder_hidden=8,\n"
              "                      decoder_hidden=16, decoder_layers=1, latent_dim=4)).eval()\n"
              "try:\n"
              "    model.sample(torch.randn(5, 4), fused=True)\n"
              "except MolgenError as err:\n"
              "    print(err)\n")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"),
           "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    assert "compiling the fused sampling step failed" in done.stdout
    assert "no --fused" in done.stdout and "compiler" in done.stdout.lower()


def test_sampler_never_emits_banned_tokens_and_respects_max_length():
    torch.manual_seed(0)
    model = VAE(dataclasses.replace(TINY, vocab_size=12)).eval()
    ids = model.sample(torch.randn(500, 16), max_length=7, temperature=2.0, banned_ids=(UNK,))
    assert ids.shape == (500, 8)
    assert not ((ids == BOS) | (ids == UNK)).any()
    assert (ids[:, 0] != EOS).all()
    assert ((ids == EOS).sum(dim=1) == 1).all()
    first_eos = (ids == EOS).float().argmax(dim=1)
    after = torch.arange(8) > first_eos[:, None]
    assert (ids[after] == PAD).all() and (ids[~after] != PAD).all()


def test_gumbel_sampling_follows_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).expand(40_000, -1)
    g = torch.Generator().manual_seed(0)
    for temperature in (1.0, 0.5):
        counts = torch.bincount(draw_tokens(logits, temperature, g), minlength=4)
        expected = torch.softmax(logits[0] / temperature, dim=0)
        assert torch.allclose(counts / counts.sum(), expected, atol=0.01)
    assert (draw_tokens(logits[:3], 0.0) == 0).all()


def test_kl_annealing_is_linear_from_start_to_max():
    config = MolVAETaskConfig(kl_start=0.1, kl_max=0.5, kl_warmup_begin=10, kl_warmup_steps=100)
    assert [kl_weight(s, config) for s in (0, 10, 60, 110, 1000)] == pytest.approx(
        [0.1, 0.1, 0.3, 0.5, 0.5])
    assert kl_weight(0, MolVAETaskConfig(kl_max=0.05, kl_warmup_steps=0)) == 0.05


def test_learning_rate_falls_along_a_cosine_then_stays():
    config = MolVAETaskConfig(lr_decay_steps=100, lr_final=0.1)
    assert [lr_factor(s, config) for s in (0, 50, 100, 500)] == pytest.approx(
        [1.0, 0.55, 0.1, 0.1])
    assert lr_factor(70, MolVAETaskConfig()) == 1.0  # no decay by default
    for bad in ({"lr_decay_steps": -1}, {"lr_final": 1.5}):
        with pytest.raises(ValueError, match="lr_decay_steps"):
            MolVAETaskConfig(**bad)


def test_a_budget_schedules_on_the_larger_share_of_steps_or_seconds_spent():
    config = MolVAETaskConfig(kl_max=0.5, budget_steps=1000, budget_seconds=100.0,
                              kl_warmup_share=0.5, lr_decay_share=1.0, lr_final=0.1,
                              kl_warmup_steps=7, lr_decay_steps=7)  # not used with a budget
    assert run_progress(100, 30.0, config) == pytest.approx(0.3)  # the clock leads
    assert run_progress(800, 30.0, config) == pytest.approx(0.8)  # the steps lead
    assert run_progress(5000, 500.0, config) == 1.0
    assert run_progress(5, 5.0, MolVAETaskConfig()) is None
    # However few steps a loaded machine makes in its seconds, the schedule follows the clock.
    assert [kl_weight(0, config, s) for s in (0, 25, 50, 99)] == pytest.approx(
        [0.0, 0.25, 0.5, 0.5])
    assert [lr_factor(0, config, s) for s in (0, 50, 100)] == pytest.approx([1.0, 0.55, 0.1])
    assert kl_weight(400, config, 0.0) == pytest.approx(0.4)  # an epoch budget ends first
    constant = dataclasses.replace(config, lr_decay_share=0.0)
    assert lr_factor(900, constant, 90.0) == 1.0
    assert isinstance(tiny_task(budget_seconds=10.0, lr_decay_share=0.0).configure_optimizers(),
                      torch.optim.Adam)
    for bad in ({"budget_seconds": -1.0}, {"budget_steps": -1}, {"kl_warmup_share": 1.5},
                {"lr_decay_share": -0.1}):
        with pytest.raises(ValueError, match="budget|share"):
            MolVAETaskConfig(**bad)


def test_the_task_reads_the_trainers_clock_and_a_resumed_run_keeps_it():
    from datetime import timedelta
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    task = tiny_task(budget_seconds=100.0, kl_warmup_share=0.5, lr_final=0.1)
    assert task.training_seconds() == 0.0 and task.kl_weight() == 0.0  # outside a fit
    timer = Timer(duration=timedelta(seconds=100))
    timer.load_state_dict({"time_elapsed": {"train": 30.0}})  # as a resumed run restores it
    task._trainer = SimpleNamespace(callbacks=[timer], global_step=0)
    assert task.training_seconds() == pytest.approx(30.0)
    assert task.kl_weight() == pytest.approx(0.6 * 0.01)
    assert task._lr_factor(0) == pytest.approx(lr_factor(0, task.config, 30.0))
    task._trainer = SimpleNamespace(callbacks=[], global_step=0)  # a fit without max_time
    task.on_train_start()
    assert 0.0 <= task.training_seconds() < 5.0


def test_optimiser_steps_the_decay_schedule():
    task = tiny_task(lr_decay_steps=4, lr_final=0.25)
    configured = task.configure_optimizers()
    optimiser, schedule = configured["optimizer"], configured["lr_scheduler"]
    assert schedule["interval"] == "step"
    lrs = []
    for _ in range(6):
        lrs.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        schedule["scheduler"].step()
    assert lrs == pytest.approx([1e-2 * lr_factor(s, task.config) for s in range(6)])
    assert lrs[-1] == pytest.approx(2.5e-3)
    assert isinstance(tiny_task().configure_optimizers(), torch.optim.Adam)


def test_kl_divergence_matches_torch_distributions():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-5)


def test_task_config_checks_and_nested_dicts():
    config = MolVAETaskConfig(model={"latent_dim": 8})  # as read back from a checkpoint
    assert config.model == VAEConfig(latent_dim=8)
    with pytest.raises(ValueError, match="unknown VAEConfig field"):
        MolVAETaskConfig(model={"latent": 8})
    with pytest.raises(ValueError, match="needs a tokenizer"):
        MolVAETask(MolVAETaskConfig())
    with pytest.raises(ValueError, match="vocab_size=3 but the tokenizer has"):
        MolVAETask(MolVAETaskConfig(model=VAEConfig(vocab_size=3)), fit_tokenizer("smiles", DRUGS))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny VAE overfitted on the drugs through training.fit (a few seconds)."""
    task = tiny_task(val_samples=50)
    # 16 copies of each drug: length buckets would fill each batch with copies of one or two.
    train, _ = token_loaders(task.tokenizer, DRUGS * 16, batch_size=24, val_fraction=0.0,
                             pool_batches=1)
    val = token_loader(task.tokenizer, DRUGS, batch_size=len(DRUGS))
    before = accuracy(task)
    run = tmp_path_factory.mktemp("runs")
    config = TrainConfig(max_epochs=15, log_dir=str(run), run_name="vae", progress_bar=False,
                         accelerator="cpu", devices=1, monitor="val_nelbo", mode="min",
                         num_sanity_val_steps=0, log_every_n_steps=1, gradient_clip_val=50.0)
    result = fit(task, train, config, val=val)
    return task.eval(), result, before


def accuracy(task: MolVAETask) -> float:
    """Share of the drugs decoded greedily from their posterior mean to themselves."""
    mu, _ = task.encode_smiles(DRUGS)
    decoded = canonical_or_none(task.decode_latent(mu))
    return sum(d == chem.canonical_smiles(s) for d, s in zip(decoded, DRUGS, strict=True)) / len(
        DRUGS)


def test_overfits_a_dozen_drugs(trained):
    task, result, before = trained
    assert before == 0.0
    assert accuracy(task) >= 0.9
    assert result.metrics["val_token_acc"] > 0.95
    assert result.metrics["val_validity"] == 1.0  # SELFIES: valid by construction
    assert result.metrics["kl_weight"] == pytest.approx(0.01)


def test_checkpoint_rebuilds_model_and_vocabulary(trained):
    task, result, _ = trained
    loaded = MolVAETask.load_from_checkpoint(result.last_checkpoint, map_location="cpu").eval()
    assert loaded.tokenizer == task.tokenizer
    assert loaded.config == task.config
    assert isinstance(loaded.hparams["tokenizer"]["vocabulary"], list)
    for name, value in task.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    mu, _ = task.encode_smiles(DRUGS)
    assert loaded.decode_latent(mu) == task.decode_latent(mu)


def test_prior_samples_are_all_valid_with_selfies(trained):
    task, _, _ = trained
    smiles = task.sample(300, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert len(smiles) == 300
    assert all(s is not None for s in canonical_or_none(smiles))


def _spread(batches, lengths):
    return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)


def test_length_buckets_cover_every_molecule_once_with_less_padding():
    lengths = [int(x) for x in torch.randint(5, 60, (1000,), generator=torch.Generator()
                                             .manual_seed(3))]
    sampler = LengthBucketSampler(lengths, 32, pool_batches=8,
                                  generator=torch.Generator().manual_seed(0))
    first, second = list(sampler), list(sampler)
    assert len(first) == len(sampler) == 32  # 31 full batches and one of 8
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert sorted(len(b) for b in first)[0] == 1000 - 31 * 32
    assert first != second  # a new order each epoch
    plain = LengthBucketSampler(lengths, 32, pool_batches=1,
                                generator=torch.Generator().manual_seed(0))
    assert _spread(first, lengths) < 0.5 * _spread(list(plain), lengths)
    again = LengthBucketSampler(lengths, 32, pool_batches=8,
                                generator=torch.Generator().manual_seed(0))
    assert list(again) == first  # the seed fixes the batches


def test_length_buckets_drop_only_the_short_batch():
    sampler = LengthBucketSampler(list(range(100)), 32, pool_batches=2, drop_last=True,
                                  generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    assert all(len(b) == 32 for b in batches)
    with pytest.raises(ValueError, match="must be >= 1"):
        LengthBucketSampler([3, 4], 0)


def test_training_loader_batches_are_bucketed_and_seeded():
    tokenizer = fit_tokenizer("selfies", DRUGS)
    train, val = token_loaders(tokenizer, DRUGS * 8, batch_size=8, val_fraction=0.1, seed=1)
    again, _ = token_loaders(tokenizer, DRUGS * 8, batch_size=8, val_fraction=0.1, seed=1)
    assert isinstance(train.batch_sampler, LengthBucketSampler)
    batches = [b.tolist() for b in train]
    assert batches == [b.tolist() for b in again]
    assert sum(len(b) for b in batches) == len(train.batch_sampler) * 8  # drop_last
    assert sum(len(b) for b in val) == round(len(DRUGS) * 8 * 0.1)


def test_smiles_tokenizer_trains_too():
    task = tiny_task("smiles")
    train, _ = token_loaders(task.tokenizer, DRUGS, batch_size=12, val_fraction=0.0)
    batch = next(iter(train))
    optimiser = task.configure_optimizers()
    first = None
    for _ in range(30):
        terms, _ = task.losses(batch)
        optimiser.zero_grad()
        terms["loss"].backward()
        optimiser.step()
        first = first if first is not None else terms["recon"].item()
    assert terms["recon"].item() < first / 2


def test_latent_diagnostics_of_a_model_that_memorised_the_drugs(trained):
    task, _, _ = trained
    report = task.latent_diagnostics(DRUGS)
    assert report["molecules"] == len(DRUGS) and report["latent_dim"] == TINY.latent_dim
    assert report["reconstruction"] == pytest.approx(accuracy(task))
    assert report["token_accuracy"] > 0.95
    assert report["kl_nats"] > 1.0 and report["active_units"] >= 1  # the code is used
    # A fresh model's code has not learnt to carry anything yet.
    fresh = tiny_task().latent_diagnostics(DRUGS)
    assert fresh["reconstruction"] < report["reconstruction"]
    with pytest.raises(ValueError, match="two valid"):
        task.latent_diagnostics(["C1CC"])
