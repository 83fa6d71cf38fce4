"""Errors of the training engine (kept apart from ``errors.py``, the hierarchy's root)."""

from __future__ import annotations

from training.errors import MedgenError


class TrainingError(MedgenError):
    """A run that cannot start or continue as configured (e.g. it would overwrite another)."""
