"""Errors of the molecule package."""

from __future__ import annotations

from training.errors import MedgenError

# Inputs can be whole generated batches glued together or binary junk; the
# message shows a readable prefix while the attribute keeps the full input.
_SHOWN_CHARS = 80


class MolgenError(MedgenError):
    """Base for molecule errors."""


class InvalidMolecule(MolgenError, ValueError):
    """RDKit could not parse or sanitise a SMILES string.

    ``smiles`` is the input exactly as given; ``reason`` is RDKit's own
    explanation (e.g. ``"Explicit valence for atom # 1 C, 5, is greater than
    permitted"``). It is also a ``ValueError`` so callers that only know the
    standard library can still catch it.
    """

    def __init__(self, smiles: str, reason: str):
        self.smiles = smiles
        self.reason = reason
        shown = smiles
        if len(smiles) > _SHOWN_CHARS:
            shown = f"{smiles[:_SHOWN_CHARS]}... ({len(smiles)} chars)"
        super().__init__(f"invalid molecule {shown!r}: {reason}")
