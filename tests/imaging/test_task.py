"""GANTask on the shared engine: a few manual-optimisation steps move both networks and
the EMA, validation logs the monitor's value for checkpoint selection, and a checkpoint
rebuilds the generator so that the same seed gives the same samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imaging.task import MONITOR, GANTask, GANTaskConfig, image_loader
from training import TrainConfig, fit, seed_everything
from training.gan import fixed_noise_loader

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.*:DeprecationWarning")]


def tiny_config(**kwargs) -> GANTaskConfig:
    return GANTaskConfig.for_data(28, 2, generator_channels=4, discriminator_channels=4,
                                  latent_dim=8, **kwargs)


def tiny_data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 2


class CountingMonitor:
    """Scores each validation with a value that falls: the engine must keep the best."""

    def __init__(self):
        self.calls = 0
        self.images = 0

    def add(self, images: torch.Tensor) -> None:
        assert images.dtype == torch.uint8 and images.shape[1:] == (1, 28, 28)
        self.images += len(images)

    def compute(self) -> float:
        self.calls += 1
        return 1.0 / self.calls


def train(tmp_path, task: GANTask, epochs: int, **config) -> object:
    images, labels = tiny_data()
    return fit(task, image_loader(images, labels, batch_size=8),
               TrainConfig(max_epochs=epochs, log_dir=str(tmp_path), accelerator="cpu",
                           progress_bar=False, num_sanity_val_steps=0, **config),
               val=fixed_noise_loader(6, 8, labels=torch.tensor([0, 1] * 3), seed=1))


def test_training_moves_both_networks_and_the_ema(tmp_path):
    seed_everything(0)
    task = GANTask(tiny_config())
    g0 = [p.clone() for p in task.generator.parameters()]
    d0 = [p.clone() for p in task.discriminator.parameters()]
    e0 = [p.clone() for p in task.generator_ema.parameters()]
    result = train(tmp_path, task, 1)
    assert task.config.d_steps == 3
    assert result.global_step == 8  # 2 batches x (three D steps + one G step)
    for before, module in ((g0, task.generator), (d0, task.discriminator),
                           (e0, task.generator_ema)):
        assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(),
                                                          strict=True))
    assert int(task.generator_ema.updates) == 2
    assert {"d_loss", "g_loss"} <= set(result.metrics)


def test_checkpoint_rebuilds_the_generator_and_samples_identically(tmp_path):
    seed_everything(0)
    task = GANTask(tiny_config())
    result = train(tmp_path, task, 2)
    labels = np.array([0, 1, 1, 0, 1])
    before = task.sample(labels, seed=5)
    loaded = GANTask.load_from_checkpoint(result.last_checkpoint, map_location="cpu")
    assert loaded.config == task.config
    assert int(loaded.generator_ema.updates) == int(task.generator_ema.updates)
    after = loaded.sample(labels, seed=5)
    assert after.dtype == torch.uint8 and after.shape == (5, 1, 28, 28)
    assert torch.equal(before, after)
    assert not torch.equal(after, loaded.sample(labels, seed=6))
    # the EMA generator is what samples, and it differs from the raw one
    assert not torch.equal(after, loaded.sample(labels, seed=5, ema=False))


def test_validation_logs_the_monitor_and_the_best_checkpoint_follows_it(tmp_path):
    seed_everything(0)
    task = GANTask(tiny_config())
    monitor = CountingMonitor()
    task.attach_monitor(monitor)
    result = train(tmp_path, task, 3, monitor=MONITOR, mode="min", patience=3)
    assert monitor.calls == 3 and monitor.images == 18
    assert result.best_score == pytest.approx(1 / 3)
    assert result.best_checkpoint.name == "best-002.ckpt"
    # the monitor is not part of the module's state: the checkpoint holds no Inception
    state = torch.load(result.best_checkpoint, weights_only=False)["state_dict"]
    assert all(k.split(".")[0] in {"generator", "discriminator", "generator_ema"} for k in state)


def test_config_errors():
    with pytest.raises(ValueError, match="must agree"):
        GANTaskConfig(generator={"resolution": 32}, discriminator={"resolution": 28})
    with pytest.raises(ValueError, match="unknown augmentation"):
        tiny_config(augment="flip")
    task = GANTask(tiny_config())
    with pytest.raises(ValueError, match="classes must lie in"):
        task.sample(np.array([2]))
