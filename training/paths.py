"""Folders outside the repository that every package may use.

Here rather than in ``medgen`` because ``kg``, ``molgen`` and ``imaging``
need the download cache too and may not import the application layer.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def state_dir() -> Path:
    """Long-lived state: the managed server's config, data, logs and password file."""
    explicit = os.environ.get("MEDGEN_STATE_DIR")
    return Path(explicit) if explicit else _xdg("XDG_STATE_HOME", ".local/state") / "medgen"


def cache_dir() -> Path:
    """Downloaded things (Neo4j jars, the MOSES wheel): shared by checkouts, safe to delete."""
    explicit = os.environ.get("MEDGEN_CACHE_DIR")
    return Path(explicit) if explicit else _xdg("XDG_CACHE_HOME", ".cache") / "medgen"
