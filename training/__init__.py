"""The shared training engine: one Lightning-based loop for kg, molgen and imaging.

A module (a ``LightningModule`` owning its loss, sampling and metrics) is
trained with ``fit(module, data, TrainConfig(...))``; it saves its own config
dataclass as hyperparameters (``config_to_dict``) so that
``Module.load_from_checkpoint(path)`` rebuilds it from the checkpoint alone.
"""

from training.config import TrainConfig, config_from, config_to_dict
from training.engine import (
    FitResult,
    build_trainer,
    fit,
    seed_everything,
    select_accelerator,
    select_device,
)
from training.engine_errors import TrainingError

__all__ = [
    "FitResult",
    "TrainConfig",
    "TrainingError",
    "build_trainer",
    "config_from",
    "config_to_dict",
    "fit",
    "seed_everything",
    "select_accelerator",
    "select_device",
]
