"""Errors of the molecule package."""

from __future__ import annotations

from training.errors import MedgenError

# Inputs can be whole generated batches glued together or binary junk; the
# message shows a readable prefix while the attribute keeps the full input.
_SHOWN_CHARS = 80


def _shown(text: str) -> str:
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]}... ({len(text)} chars)"
    return text


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
        super().__init__(f"invalid molecule {_shown(smiles)!r}: {reason}")


class TokenizationError(MolgenError, ValueError):
    """A tokenizer cannot turn ``text`` into tokens (or tokens back into a molecule).

    E.g. SELFIES refuses a carbon with five bonds, or the SMILES regex meets a
    character that is not SMILES. ``text`` is the input as given.
    """

    def __init__(self, text: str, reason: str):
        self.text = text
        self.reason = reason
        super().__init__(f"cannot tokenize {_shown(text)!r}: {reason}")


class MoleculeFileError(MolgenError, ValueError):
    """A molecule file (SMILES, CSV, SDF) that cannot be read as asked.

    ``path`` and ``line`` (1-based, None when the problem is the whole file)
    say where; the message starts with ``path:line:`` as compilers do, so an
    editor can jump there.
    """

    def __init__(self, path: str, reason: str, *, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
