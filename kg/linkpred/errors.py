"""Errors of the link-prediction package."""

from __future__ import annotations

from kg.errors import KGError


class LinkPredictionError(KGError):
    """A graph, split or checkpoint that does not fit the link-prediction task."""
