"""Errors of the knowledge-graph package."""

from __future__ import annotations

from pathlib import Path

from training.errors import MedgenError


class KGError(MedgenError):
    """Base for knowledge-graph errors."""


class SchemaError(KGError):
    """A label, relationship type or property name outside the schema's whitelist."""


class SourceError(KGError):
    """Bad input in a source file: says which file, which line and what to do."""

    def __init__(self, path: str | Path | None, line: int | None, reason: str, hint: str = ""):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = reason
        self.hint = hint
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        msg = f"{where}: {reason}"
        if hint:
            msg = f"{msg} ({hint})"
        super().__init__(msg)


class StoreError(KGError):
    """Neo4j refused or failed a request (unreachable, bad credentials, failed batch)."""


class DiagnosisError(KGError):
    """A diagnosis cannot be made as asked (unknown terms, a graph without phenotypes,
    impossible prior weights)."""
