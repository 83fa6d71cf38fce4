"""The Neo4j side of the knowledge graph: schema set-up, batched idempotent
writes, counts. The driver is injected; this module never builds one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import neo4j
import numpy as np
import pandas as pd

from kg import queries
from kg.errors import StoreError
from kg.schema import KEY, Schema
from kg.tables import PROVENANCE_COLUMNS, EdgeTable, GraphTables, NodeTable

DEFAULT_BATCH = 5000

Progress = Callable[[int], None]  # called with the number of rows just written


def _plain(value):
    """A value the Bolt driver accepts: numpy scalars to Python, NaN/NA to None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _common(frame: pd.DataFrame) -> dict:
    """Provenance, the same on every row: sent once per batch, not once per row."""
    return {c: _plain(frame[c].iloc[0]) for c in PROVENANCE_COLUMNS
            if c in frame.columns and len(frame) and frame[c].nunique(dropna=False) == 1}


def _node_rows(frame: pd.DataFrame, common: dict) -> list[dict]:
    props = [c for c in frame.columns if c != KEY and c not in common]
    ids = frame[KEY].astype(str).tolist()
    columns = [frame[c].tolist() for c in props]
    return [
        {KEY: ids[i], "props": {p: _plain(col[i]) for p, col in zip(props, columns, strict=True)}}
        for i in range(len(ids))
    ]


def _edge_rows(frame: pd.DataFrame, common: dict) -> list[dict]:
    props = [c for c in frame.columns if c not in ("start", "end") and c not in common]
    starts, ends = frame["start"].astype(str).tolist(), frame["end"].astype(str).tolist()
    columns = [frame[c].tolist() for c in props]
    return [
        {"start": starts[i], "end": ends[i],
         "props": {p: _plain(col[i]) for p, col in zip(props, columns, strict=True)}}
        for i in range(len(starts))
    ]


def _batches(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


@dataclass
class WriteReport:
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)

    def add(self, other: WriteReport) -> None:
        for mine, theirs in ((self.nodes, other.nodes), (self.relationships, other.relationships)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


class GraphStore:
    """Reads and writes the knowledge graph in one Neo4j database."""

    def __init__(self, driver: neo4j.Driver, database: str | None = None,
                 schema: Schema | None = None):
        self.driver = driver
        self.database = database
        self.schema = schema or Schema.default()

    def _session(self, **kw) -> neo4j.Session:
        return self.driver.session(database=self.database, **kw)

    def run_read(self, query: str, **params) -> list[dict]:
        with self._session() as s:
            return s.execute_read(lambda tx: [r.data() for r in tx.run(query, params)])

    # schema --------------------------------------------------------------------------
    def ensure_schema(self, labels: list[str] | None = None) -> None:
        """One uniqueness constraint on ``id`` per label and a name index; idempotent."""
        # a plain session, not driver.execute_query: that one shares a driver-wide
        # bookmark manager whose bookmarks go stale when a bulk import replaces the database
        with self._session() as s:
            for label in sorted(labels if labels is not None else self.schema.labels):
                s.run(queries.constraint(self.schema, label)).consume()
                s.run(queries.name_index(self.schema, label)).consume()

    # writes --------------------------------------------------------------------------
    def write_nodes(self, table: NodeTable, batch_size: int = DEFAULT_BATCH,
                    progress: Progress | None = None) -> int:
        query = queries.merge_nodes(self.schema, table.label)
        written = 0
        common = _common(table.frame)
        with self._session() as s:
            for batch in _batches(_node_rows(table.frame, common), batch_size):
                written += s.execute_write(_write_batch, query, batch, common)
                if progress:
                    progress(len(batch))
        return written

    def write_edges(self, table: EdgeTable, batch_size: int = DEFAULT_BATCH,
                    progress: Progress | None = None) -> int:
        query = queries.merge_edges(self.schema, table.type, table.start_label, table.end_label)
        written = 0
        common = _common(table.frame)
        with self._session() as s:
            for batch in _batches(_edge_rows(table.frame, common), batch_size):
                written += s.execute_write(_write_edge_batch, self.schema, query, table, batch,
                                           common)
                if progress:
                    progress(len(batch))
        return written

    def write(self, tables: GraphTables, batch_size: int = DEFAULT_BATCH,
              progress: Progress | None = None) -> WriteReport:
        """Nodes first (all labels), then relationships; each batch one transaction.

        A batch that fails is rolled back whole; MERGE makes the rerun complete it.
        """
        labels = sorted({t.label for t in tables.nodes}
                        | {t.start_label for t in tables.edges}
                        | {t.end_label for t in tables.edges})
        self.ensure_schema(labels)
        report = WriteReport()
        for t in tables.nodes:
            report.nodes[t.label] = report.nodes.get(t.label, 0) + self.write_nodes(
                t, batch_size, progress)
        for t in tables.edges:
            report.relationships[t.type] = report.relationships.get(t.type, 0) + self.write_edges(
                t, batch_size, progress)
        return report

    # reads ---------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        nodes = {r["label"]: r["count"] for r in self.run_read(queries.NODE_COUNTS)}
        rels = {r["type"]: r["count"] for r in self.run_read(queries.REL_COUNTS)}
        return {"nodes": nodes, "relationships": rels}

    def node_ids(self, label: str) -> list[str]:
        """The ids of every ``label`` node, sorted."""
        return self.run_read(queries.node_ids(self.schema, label))[0]["ids"]

    def edge_pairs(self, rel_type: str, start: str, end: str) -> tuple[list[str], list[str]]:
        """Start and end ids of every ``(start)-[rel_type]->(end)`` relationship."""
        row = self.run_read(queries.edge_pairs(self.schema, rel_type, start, end))[0]
        return row["starts"], row["ends"]

    def patterns(self) -> list[dict]:
        return self.run_read(queries.REL_PATTERNS)

    def names(self, label: str, ids: list[str]) -> dict[str, str | None]:
        """Display names of the ``label`` nodes keyed ``ids`` (ids not found are left out)."""
        rows = self.run_read(queries.node_names(self.schema, label), ids=list(ids))
        return {r["id"]: r["name"] for r in rows}

    def clear(self) -> None:
        """Delete every node and relationship (constraints stay). For tests and `--fresh`."""
        with self._session() as s:
            s.run(queries.DELETE_ALL_RELATIONSHIPS).consume()
            s.run(queries.DELETE_ALL_NODES).consume()


def _write_batch(tx: neo4j.ManagedTransaction, query: str, rows: list[dict],
                 common: dict) -> int:
    return tx.run(query, rows=rows, common=common).single()["written"]


def _write_edge_batch(tx: neo4j.ManagedTransaction, schema: Schema, query: str,
                      table: EdgeTable, rows: list[dict], common: dict) -> int:
    written = tx.run(query, rows=rows, common=common).single()["written"]
    if written != len(rows):
        # MATCH dropped rows whose endpoints do not exist: name them and roll back
        missing = []
        for label, key in ((table.start_label, "start"), (table.end_label, "end")):
            ids = sorted({r[key] for r in rows})
            got = tx.run(queries.missing_ids(schema, label), ids=ids, limit=5).single()["missing"]
            missing += [f"{label} {i!r}" for i in got]
        raise StoreError(
            f"{len(rows) - written} of {len(rows)} {table.type} relationships point at nodes "
            f"that do not exist ({', '.join(missing) or 'unknown'}); load those nodes first. "
            "Nothing of this batch was written."
        )
    return written

