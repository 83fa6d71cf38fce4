"""Canonical node and edge tables: what every source produces and every
writer (online MERGE, bulk import, tests) consumes.

A node table holds one label; its frame has an ``id`` column (the key, a
string) and one column per property. An edge table holds one relationship
type between two labels; its frame has ``start`` and ``end`` columns (node
ids) and one column per property. Provenance (``source``, ``source_version``,
``loaded_at``) is added to every row by :func:`with_provenance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

PROVENANCE_COLUMNS = ("source", "source_version", "loaded_at")


@dataclass(frozen=True)
class Provenance:
    source: str
    version: str
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


@dataclass
class NodeTable:
    label: str
    frame: pd.DataFrame  # columns: id, <properties...>

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class EdgeTable:
    type: str
    start_label: str
    end_label: str
    frame: pd.DataFrame  # columns: start, end, <properties...>

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class GraphTables:
    """Everything one source contributes, with its provenance."""

    provenance: Provenance
    nodes: list[NodeTable] = field(default_factory=list)
    edges: list[EdgeTable] = field(default_factory=list)
    # what the source skipped and why, e.g. {"obsolete terms": 512}; reported to the user
    skipped: dict[str, int] = field(default_factory=dict)

    def node_counts(self) -> dict[str, int]:
        return {t.label: len(t) for t in self.nodes}

    def edge_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.edges:
            out[t.type] = out.get(t.type, 0) + len(t)
        return out


def with_provenance(tables: GraphTables) -> GraphTables:
    """Return the tables with provenance columns filled on every row."""
    p = tables.provenance
    values = {"source": p.source, "source_version": p.version, "loaded_at": p.loaded_at}
    for t in [*tables.nodes, *tables.edges]:
        t.frame = t.frame.assign(**values)
    return tables
