"""Registries: lookup by name, clear errors, and a meta-test that fails when a
registered component has no test case."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from torch import nn

from kg.models import DECODERS, ENCODERS, MODELS, Registry

from . import test_decoders, test_encoders, test_pathgnn


def test_every_registered_component_has_a_test_case():
    assert sorted({**test_encoders.CASES, **test_pathgnn.CASES}) == ENCODERS.names()
    assert sorted(test_decoders.CASES) == DECODERS.names()
    # both models run through the task's smoke training
    from ..linkpred import test_task
    assert sorted({case[0] for case in test_task.SMOKE}) == MODELS.names()


@dataclass
class ToyConfig:
    width: int
    depth: int = 1


def test_registry_builds_by_name_case_insensitively_and_rejects_duplicates():
    reg: Registry[nn.Module] = Registry("toy")

    @reg.register("Lin", ToyConfig)
    class Lin(nn.Module):
        def __init__(self, config: ToyConfig):
            super().__init__()
            self.config = config

    assert reg.names() == ["lin"] and "LIN" in reg
    assert reg.build("lin", {"depth": 2}, width=3).config == ToyConfig(3, 2)
    assert reg.build("lin", ToyConfig(4)).config == ToyConfig(4)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("lin", ToyConfig)(Lin)
    with pytest.raises(ValueError, match=r"unknown toy 'conv'; choose one of \['lin'\]"):
        reg.get("conv")
    with pytest.raises(ValueError, match="disagrees with the model on"):
        reg.build("lin", ToyConfig(4), width=5)
    with pytest.raises(ValueError, match="unknown ToyConfig field"):
        reg.build("lin", {"widht": 3})
    assert "lin" in repr(reg)
