"""Canonical tables as ``neo4j-admin database import`` CSV files.

The bulk path builds the same graph as the online MERGE path (same ids,
properties and types), only faster, and only into an empty database.
Running the import tool is the application's job (it owns the server); this
module only writes the files and says which label or type each one holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kg.errors import KGError
from kg.schema import KEY, Schema
from kg.store import _plain
from kg.tables import GraphTables

# U+001F (unit separator): never part of a name, unlike ";" (one HPO synonym has it)
ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"  # how neo4j-admin is told


@dataclass
class BulkFiles:
    nodes: list[tuple[str, Path]] = field(default_factory=list)  # (label, csv)
    relationships: list[tuple[str, Path]] = field(default_factory=list)  # (type, csv)


def _column_type(series: pd.Series) -> str:
    """The import tool's type suffix for a column, from its values."""
    values = [v for v in series.tolist() if _plain(v) is not None]
    if not values:
        return ""
    if all(isinstance(v, (list, tuple)) for v in values):
        return ":string[]"
    if all(isinstance(v, bool) for v in values):
        return ":boolean"
    if all(isinstance(_plain(v), int) and not isinstance(v, bool) for v in values):
        return ":long"
    if all(isinstance(_plain(v), (int, float)) and not isinstance(v, bool) for v in values):
        return ":double"
    return ""  # string


def _cell(value) -> str:
    """One CSV field: quoted text, or nothing at all for a missing value.

    The import tool reads an unquoted empty field as "no property" and ``""`` as
    the empty string, which is what MERGE's ``SET n += row.props`` does with
    null and ``""``; the csv module cannot write that distinction on Python 3.11.
    """
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        items = [str(v) for v in value]
        if any(ARRAY_DELIMITER in v for v in items):
            raise KGError("a list value contains U+001F, which the bulk path uses between "
                          "items; load this data with the online path")
        value = ARRAY_DELIMITER.join(items)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    return '"' + str(value).replace('"', '""') + '"'


def _write(path: Path, header: list[str], columns: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(_cell(h) for h in header) + "\n")
        for row in zip(*columns, strict=True):
            fh.write(",".join(_cell(v) for v in row) + "\n")


def write_bulk_csv(all_tables: list[GraphTables], out_dir: Path,
                   schema: Schema | None = None) -> BulkFiles:
    """Write one CSV per node table and per edge table under ``out_dir``."""
    schema = schema or Schema.default()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = BulkFiles()
    n = 0
    for tables in all_tables:
        for t in tables.nodes:
            label = schema.label(t.label)
            props = [c for c in t.frame.columns if c != KEY]
            header = [f"{KEY}:ID({label})"] + [f"{c}{_column_type(t.frame[c])}" for c in props]
            path = out_dir / f"nodes_{n:03d}_{label}.csv"
            _write(path, header, [t.frame[KEY].astype(str).tolist()]
                   + [t.frame[c].tolist() for c in props])
            files.nodes.append((label, path))
            n += 1
        for t in tables.edges:
            rtype = schema.rel_type(t.type)
            start, end = schema.label(t.start_label), schema.label(t.end_label)
            props = [c for c in t.frame.columns if c not in ("start", "end")]
            header = [f":START_ID({start})", f":END_ID({end})"] + [
                f"{c}{_column_type(t.frame[c])}" for c in props]
            path = out_dir / f"rels_{n:03d}_{rtype}.csv"
            _write(path, header, [t.frame["start"].astype(str).tolist(),
                                  t.frame["end"].astype(str).tolist()]
                   + [t.frame[c].tolist() for c in props])
            files.relationships.append((rtype, path))
            n += 1
    return files
