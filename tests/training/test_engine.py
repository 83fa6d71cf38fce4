"""The shared engine on tiny modules: logging, checkpoints that rebuild their
model, resumption after a stop, early stopping, manual optimisation (a GAN's
two optimisers) and the config round trip."""

from __future__ import annotations

import random
from dataclasses import dataclass

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from training import (
    TrainConfig,
    TrainingError,
    config_from,
    config_to_dict,
    fit,
    seed_everything,
    select_accelerator,
    select_device,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")


@dataclass
class RegressorConfig:
    in_dim: int = 4
    hidden: int = 8
    lr: float = 0.05


class Regressor(L.LightningModule):
    def __init__(self, config: RegressorConfig | dict | None = None):
        super().__init__()
        self.config = config_from(RegressorConfig, config)
        self.save_hyperparameters({"config": config_to_dict(self.config)})
        self.net = nn.Sequential(nn.Linear(self.config.in_dim, self.config.hidden), nn.Tanh(),
                                 nn.Linear(self.config.hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(x))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y), batch_size=len(x))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.config.lr)


class StuckRegressor(Regressor):
    """Logs a validation metric that never improves, to trigger early stopping."""

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", torch.tensor(1.0), batch_size=len(batch[0]))


def loaders(n: int = 64, batch_size: int = 16) -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1
    data = TensorDataset(x, y)
    # shuffle=False: a resumed run then sees the very batches an uninterrupted one sees
    return DataLoader(data, batch_size=batch_size), DataLoader(data, batch_size=n)


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(max_epochs=3, log_dir=str(tmp_path / "runs"), run_name="t", progress_bar=False,
                log_every_n_steps=1, num_sanity_val_steps=0, monitor="val_loss", mode="min")
    base.update(kw)
    return TrainConfig(**base)


def test_fit_logs_and_checkpoints_into_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to the cwd would show up here
    train, val = loaders()
    result = fit(Regressor(), train, config(tmp_path), val=val)
    run = tmp_path / "runs" / "t"
    assert result.run_dir == run and result.epochs == 3 and result.global_step == 12
    assert result.last_checkpoint == run / "checkpoints" / "last.ckpt"
    assert result.best_checkpoint is not None and result.best_checkpoint.exists()
    assert result.best_score == pytest.approx(min(result.metrics["val_loss"], result.best_score))
    assert (run / "csv" / "version_0" / "metrics.csv").read_text().startswith("epoch")
    assert list((run / "tensorboard" / "version_0").glob("events.out.tfevents.*"))
    assert TrainConfig(**__import__("json").loads((run / "train_config.json").read_text())) \
        == config(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no lightning_logs/


def test_checkpoint_rebuilds_its_model_from_the_saved_config(tmp_path):
    train, val = loaders()
    module = Regressor(RegressorConfig(hidden=5))
    result = fit(module, train, config(tmp_path, max_epochs=2), val=val)
    back = Regressor.load_from_checkpoint(result.last_checkpoint)
    assert back.config == RegressorConfig(hidden=5)
    x = torch.randn(7, 4)
    module.eval()
    back.eval()
    torch.testing.assert_close(back(x), module(x), rtol=0, atol=0)


def test_resume_continues_counters_and_matches_an_uninterrupted_run(tmp_path):
    train, val = loaders()
    steps_per_epoch = len(train)
    seed_everything(0)  # the modules' initial weights must match too
    whole = fit(Regressor(), train, config(tmp_path, run_name="whole", max_epochs=4), val=val)

    seed_everything(0)
    first = fit(Regressor(), train, config(tmp_path, run_name="cut", max_epochs=2), val=val)
    assert first.epochs == 2 and first.resumed_from is None
    # a fresh process would build a new module; the weights come from last.ckpt
    second = fit(Regressor(), train,
                 config(tmp_path, run_name="cut", max_epochs=4, resume=True), val=val)
    assert second.resumed_from == first.last_checkpoint
    assert second.epochs == 4 and second.global_step == 4 * steps_per_epoch
    a = Regressor.load_from_checkpoint(whole.last_checkpoint).state_dict()
    b = Regressor.load_from_checkpoint(second.last_checkpoint).state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    # the resumed attempt logs next to the first instead of over it
    assert (tmp_path / "runs" / "cut" / "csv" / "version_1" / "metrics.csv").exists()


class NoisyRegressor(Regressor):
    """Draws from every generator a training step may use: dropout (torch), input noise
    from NumPy and Python, and its batches come from a seeded, shuffling loader."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        noise = torch.tensor(np.random.normal(size=x.shape), dtype=x.dtype) * 0.01
        x = nn.functional.dropout(x + noise, p=0.3, training=True) * random.uniform(0.9, 1.1)
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):  # draws too (a VAE's sampled code does)
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x + torch.randn_like(x)), y),
                 batch_size=len(x))


@pytest.mark.parametrize("sanity_steps", [0, 2])
def test_resume_continues_every_random_stream_bit_for_bit(tmp_path, sanity_steps):
    _, val = loaders()

    def shuffled() -> DataLoader:  # a fresh process builds its loader anew, seed and all
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
        return DataLoader(TensorDataset(x, x.sum(1)), batch_size=16, shuffle=True,
                          generator=torch.Generator().manual_seed(7))

    seed_everything(0)
    whole = fit(NoisyRegressor(), shuffled(), config(
        tmp_path, run_name="whole", max_epochs=5, num_sanity_val_steps=sanity_steps), val=val)
    seed_everything(0)
    fit(NoisyRegressor(), shuffled(), config(
        tmp_path, run_name="cut", max_epochs=2, num_sanity_val_steps=sanity_steps), val=val)
    random.seed(123)  # what a new process would have: none of the first run's state
    np.random.seed(123)
    torch.manual_seed(123)
    resumed = fit(NoisyRegressor(), shuffled(), config(
        tmp_path, run_name="cut", max_epochs=5, resume=True, num_sanity_val_steps=sanity_steps),
        val=val)
    assert resumed.epochs == 5
    a = NoisyRegressor.load_from_checkpoint(whole.last_checkpoint).state_dict()
    b = NoisyRegressor.load_from_checkpoint(resumed.last_checkpoint).state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_without_the_random_state_the_resumed_run_would_differ(tmp_path, monkeypatch):
    """The test above can fail: with the restore switched off, the weights differ."""
    from training import rng_state

    monkeypatch.setattr(rng_state, "restore", lambda loaders, states: None)
    _, val = loaders()

    def shuffled() -> DataLoader:
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
        return DataLoader(TensorDataset(x, x.sum(1)), batch_size=16, shuffle=True,
                          generator=torch.Generator().manual_seed(7))

    seed_everything(0)
    whole = fit(NoisyRegressor(), shuffled(),
                config(tmp_path, run_name="whole", max_epochs=3), val=val)
    seed_everything(0)
    fit(NoisyRegressor(), shuffled(), config(tmp_path, run_name="cut", max_epochs=1), val=val)
    resumed = fit(NoisyRegressor(), shuffled(),
                  config(tmp_path, run_name="cut", max_epochs=3, resume=True), val=val)
    a = NoisyRegressor.load_from_checkpoint(whole.last_checkpoint).state_dict()
    b = NoisyRegressor.load_from_checkpoint(resumed.last_checkpoint).state_dict()
    assert any(not torch.equal(a[name], b[name]) for name in a)


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    train, val = loaders()
    result = fit(Regressor(), train, config(tmp_path, max_epochs=1, resume=True), val=val)
    assert result.resumed_from is None and result.epochs == 1


def test_a_new_run_refuses_to_overwrite_an_existing_one(tmp_path):
    train, val = loaders()
    fit(Regressor(), train, config(tmp_path, max_epochs=1), val=val)
    with pytest.raises(TrainingError, match="resume=True"):
        fit(Regressor(), train, config(tmp_path, max_epochs=1), val=val)


def test_early_stopping_on_the_monitored_metric(tmp_path):
    train, val = loaders()
    result = fit(StuckRegressor(), train, config(tmp_path, max_epochs=20, patience=2), val=val)
    assert result.epochs == 3  # the first value, then two epochs without improvement
    # last.ckpt is the latest epoch even though the metric stopped improving
    assert torch.load(result.last_checkpoint, weights_only=True)["epoch"] == 2
    assert result.best_checkpoint.name == "best-000.ckpt"


class TwoOptimisers(L.LightningModule):
    """A GAN-shaped module: two optimisers stepped by hand in one training_step."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.save_hyperparameters({"config": dict(config or {})})
        self.automatic_optimization = False
        self.generator = nn.Linear(2, 2)
        self.critic = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_g, opt_c = self.optimizers()
        fake = self.generator(torch.randn_like(real))
        loss_c = self.critic(fake.detach()).mean() - self.critic(real).mean()
        opt_c.zero_grad()
        self.manual_backward(loss_c)
        self.clip_gradients(opt_c, gradient_clip_val=1.0)
        opt_c.step()
        loss_g = -self.critic(self.generator(torch.randn_like(real))).mean()
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        self.log_dict({"loss_c": loss_c, "loss_g": loss_g}, batch_size=len(real))

    def configure_optimizers(self):
        return (torch.optim.Adam(self.generator.parameters(), lr=1e-3),
                torch.optim.Adam(self.critic.parameters(), lr=1e-3))


def test_manual_optimisation_fits_the_same_engine(tmp_path):
    data = DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=8)
    module = TwoOptimisers()
    before = module.generator.weight.detach().clone()
    result = fit(module, data, config(tmp_path, monitor=None, max_epochs=2))
    assert result.global_step == 2 * 4 * 2  # Lightning counts each optimiser's steps
    assert not torch.equal(before, module.generator.weight)
    assert {"loss_c", "loss_g"} <= set(result.metrics)
    back = TwoOptimisers.load_from_checkpoint(result.last_checkpoint)
    torch.testing.assert_close(back.generator.weight, module.generator.weight)


def test_manual_optimisation_refuses_automatic_clipping(tmp_path):
    data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=8)
    with pytest.raises(TrainingError, match="clip_gradients"):
        fit(TwoOptimisers(), data, config(tmp_path, monitor=None, gradient_clip_val=1.0))


@pytest.mark.parametrize("bad", [dict(max_epochs=0), dict(mode="up"), dict(patience=3),
                                 dict(monitor="m", patience=0), dict(run_name="a/b"),
                                 dict(checkpoint_every_n_epochs=0)])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_config_from_accepts_instances_mappings_and_none_and_rejects_typos():
    assert config_from(RegressorConfig, None) == RegressorConfig()
    assert config_from(RegressorConfig, {"hidden": 3}) == RegressorConfig(hidden=3)
    c = RegressorConfig(lr=0.1)
    assert config_from(RegressorConfig, c) is c
    with pytest.raises(ValueError, match="hiden"):
        config_from(RegressorConfig, {"hiden": 3})
    with pytest.raises(TypeError):
        config_to_dict(RegressorConfig)


def test_device_selection_on_this_machine():
    expected = "gpu" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert select_accelerator("auto") == expected
    assert select_accelerator("cpu") == "cpu"
    assert select_device("cpu") == torch.device("cpu")
