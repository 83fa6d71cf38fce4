"""Tiny tensors run fastest on one thread: OpenMP's start-up and barriers cost more
than the work, and on a busy machine (CI beside other jobs) they cost ten times more."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
