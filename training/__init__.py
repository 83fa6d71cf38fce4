"""The shared training engine: one Lightning-based loop for kg, molgen and imaging.

A module (a ``LightningModule`` owning its loss, sampling and metrics) is
trained with ``fit(module, data, TrainConfig(...))``; it saves its own config
dataclass as hyperparameters (``config_to_dict``) so that
``Module.load_from_checkpoint(path)`` rebuilds it from the checkpoint alone.
"""

import importlib

# Lazy (PEP 562): ``training.errors`` and ``training.paths`` are imported by
# every command, and must not pull in torch and Lightning with them.
_EXPORTS = {
    "TrainConfig": "training.config",
    "config_from": "training.config",
    "config_to_dict": "training.config",
    "FitResult": "training.engine",
    "build_trainer": "training.engine",
    "fit": "training.engine",
    "seed_everything": "training.engine",
    "select_accelerator": "training.engine",
    "select_device": "training.engine",
    "TrainingError": "training.engine_errors",
    "EMA": "training.gan",
    "fixed_noise_loader": "training.gan",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
