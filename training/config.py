"""Run configuration, and the dict round trip every model config goes through.

Modules save their own config dataclass as hyperparameters *as a plain dict*
(:func:`config_to_dict`): a checkpoint then holds only builtin types, loads
without unpickling project classes, and its ``hparams.yaml`` stays readable.
``Module.load_from_checkpoint(path)`` calls ``Module(config=<that dict>)`` and
the module turns it back into its dataclass with :func:`config_from`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a dict of builtin values (nested dataclasses too)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return dataclasses.asdict(config)


def config_from(cls: type[C], value: C | Mapping[str, Any] | None) -> C:
    """``value`` as an instance of the dataclass ``cls``.

    Accepts an instance (returned as is), a mapping of its fields (from a
    checkpoint, a JSON/YAML file or the CLI) or None (the defaults). Unknown
    keys are an error rather than silently ignored: a typo in a config file
    must not train a different model than the one asked for.
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"expected {cls.__name__} or a mapping, got {type(value).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(names)}")
    _check_plain_values(cls, value)
    return cls(**value)


_PLAIN = (bool, int, float, str, type(None))


def _check_plain_values(cls: type, value: Mapping[str, Any]) -> None:
    """Fields typed bool, int, float or str (or unions of them with None) get a value of
    that type, and a float is finite: a file's ``"dim": "big"`` or ``"lr": NaN`` is refused
    here, naming the field, rather than failing (or training on NaN) later."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation this module cannot resolve: no check
        return
    for name, given in value.items():
        want = hints.get(name)
        kinds = typing.get_args(want) if typing.get_origin(want) in (typing.Union,
                                                                    types.UnionType) else (want,)
        if not kinds or not all(k in _PLAIN for k in kinds):
            continue  # lists, tuples, literals, nested configs: checked where they are used
        ok = (given is None and type(None) in kinds
              or isinstance(given, bool) and bool in kinds
              or isinstance(given, numbers.Integral) and not isinstance(given, bool)
              and (int in kinds or float in kinds)
              or isinstance(given, numbers.Real) and not isinstance(given, bool)
              and float in kinds
              or isinstance(given, str) and str in kinds)
        if not ok:
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise TypeError(f"{cls.__name__}.{name} must be {names}, got {given!r}")
        if isinstance(given, float) and not math.isfinite(given):
            raise ValueError(f"{cls.__name__}.{name} must be a finite number, got {given!r}")


# The precision words of the CLIs and benchmarks, as Lightning names them: bfloat16
# trains with bf16 autocast over float32 weights (no loss scaling needed).
LIGHTNING_PRECISION = {"float32": "32-true", "bfloat16": "bf16-mixed"}


@dataclass
class TrainConfig:
    """How to run a training: the engine's settings, independent of the model."""

    max_epochs: int = 100
    max_time_s: float | None = None  # wall-clock budget for training (checked after each step)
    seed: int = 0
    accelerator: str = "auto"  # "auto" | "cpu" | "gpu" | "mps" ...
    devices: int | str | list[int] = "auto"
    strategy: str = "auto"  # "ddp" for several GPUs / machines
    num_nodes: int = 1  # machines, for multi-node DDP
    precision: str = "32-true"  # "bf16-mixed", "16-mixed" on GPUs
    log_dir: str = "runs"
    run_name: str = "run"
    monitor: str | None = None  # metric for the best checkpoint and early stopping
    mode: Literal["min", "max"] = "min"
    patience: int | None = None  # epochs without improvement before stopping; None: never
    checkpoint_every_n_epochs: int = 1
    resume: bool = False  # continue from <run dir>/checkpoints/last.ckpt when present
    progress_bar: bool | None = None  # None: only when attached to a terminal
    gradient_clip_val: float | None = None
    deterministic: bool = False
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 50
    num_sanity_val_steps: int = 2

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.max_time_s is not None and self.max_time_s <= 0:
            raise ValueError(f"max_time_s must be positive, got {self.max_time_s}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.patience is not None and self.monitor is None:
            raise ValueError("patience (early stopping) needs a monitor metric")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.checkpoint_every_n_epochs < 1:
            raise ValueError("checkpoint_every_n_epochs must be >= 1")
        if not self.run_name or Path(self.run_name).name != self.run_name:
            raise ValueError(f"run_name must be a plain folder name, got {self.run_name!r}")

    @property
    def run_dir(self) -> Path:
        return Path(self.log_dir) / self.run_name

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"
