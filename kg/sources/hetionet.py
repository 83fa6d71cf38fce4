"""Hetionet v1.0: the nodes TSV (``id name kind``) and the edges SIF
(``source metaedge target``), as published by Himmelstein et al.

Hetionet ids read ``Kind::identifier``. A node is keyed by the identifier
alone, except genes: they become ``NCBIGene:<n>`` so that Hetionet genes and
HPO genes (keyed that way) are the same nodes in the graph. The original id
is kept as ``hetionet_id``. Labels and types come only from the schema's
Hetionet whitelist.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kg.errors import SourceError
from kg.schema import HETIONET_KINDS, HETIONET_METAEDGES, Schema
from kg.sources._io import read_tsv
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance

NODE_COLUMNS = ("id", "name", "kind")
EDGE_COLUMNS = ("source", "metaedge", "target")
VERSION = "v1.0"
DUPLICATES = "duplicate edges"


def load_hetionet(nodes_path: str | Path, edges_path: str | Path | None = None) -> GraphTables:
    """Load Hetionet's nodes and, if given, its edges (``.sif`` or ``.sif.gz``).

    Every edge's endpoints must be in the nodes file with the kinds its
    metaedge names.
    """
    schema = Schema.default()
    nodes = _read_nodes(Path(nodes_path), schema)
    tables = GraphTables(provenance=Provenance(source="hetionet", version=VERSION))
    by_label: dict[str, list[dict[str, str]]] = {}
    for kind, node_id, name, hetionet_id in nodes.values():
        by_label.setdefault(HETIONET_KINDS[kind], []).append(
            {"id": node_id, "name": name, "hetionet_id": hetionet_id}
        )
    tables.nodes = [
        NodeTable(label, pd.DataFrame(rows, columns=["id", "name", "hetionet_id"], dtype=object))
        for label, rows in sorted(by_label.items())
    ]
    if edges_path is not None:
        tables.edges, duplicates = _read_edges(Path(edges_path), nodes, schema)
        if duplicates:
            tables.skipped[DUPLICATES] = duplicates
    return tables


def _read_nodes(path: Path, schema: Schema) -> dict[str, tuple[str, str, str, str]]:
    """Hetionet id -> (kind, node id, name, Hetionet id), in file order."""
    nodes: dict[str, tuple[str, str, str, str]] = {}
    first_line: dict[str, int] = {}
    for row in read_tsv(path, NODE_COLUMNS, header=True):
        hetionet_id, kind = row["id"], row["kind"]
        if kind not in HETIONET_KINDS:
            raise SourceError(
                path,
                row.line,
                f"unknown kind {kind!r}",
                f"Hetionet v1.0 kinds are {sorted(HETIONET_KINDS)}",
            )
        schema.label(HETIONET_KINDS[kind])
        prefix, sep, identifier = hetionet_id.partition("::")
        if not sep or prefix != kind or not identifier:
            raise SourceError(
                path,
                row.line,
                f"id {hetionet_id!r} does not read {kind}::<identifier>",
                "the id's prefix must match the kind column",
            )
        if hetionet_id in nodes:
            raise SourceError(
                path,
                row.line,
                f"duplicate id {hetionet_id!r}",
                f"first seen on line {first_line[hetionet_id]}",
            )
        node_id = f"NCBIGene:{identifier}" if kind == "Gene" else identifier
        nodes[hetionet_id] = (kind, node_id, row["name"], hetionet_id)
        first_line[hetionet_id] = row.line
    return nodes


def _read_edges(
    path: Path, nodes: dict[str, tuple[str, str, str, str]], schema: Schema
) -> tuple[list[EdgeTable], int]:
    groups: dict[str, dict[tuple[str, str], None]] = {}  # metaedge -> ordered set of pairs
    duplicates = 0
    for row in read_tsv(path, EDGE_COLUMNS, header=True):
        metaedge = row["metaedge"]
        if metaedge not in HETIONET_METAEDGES:
            raise SourceError(
                path,
                row.line,
                f"unknown metaedge {metaedge!r}",
                f"Hetionet v1.0 metaedges are {sorted(HETIONET_METAEDGES)}",
            )
        _, start_kind, end_kind = HETIONET_METAEDGES[metaedge]
        start = _endpoint(path, row.line, nodes, row["source"], start_kind, metaedge)
        end = _endpoint(path, row.line, nodes, row["target"], end_kind, metaedge)
        pairs = groups.setdefault(metaedge, {})
        if (start, end) in pairs:
            duplicates += 1
        else:
            pairs[(start, end)] = None
    tables = []
    for metaedge, pairs in sorted(groups.items()):
        rel_type, start_kind, end_kind = HETIONET_METAEDGES[metaedge]
        frame = pd.DataFrame(list(pairs), columns=["start", "end"], dtype=object)
        tables.append(
            EdgeTable(
                schema.rel_type(rel_type),
                HETIONET_KINDS[start_kind],
                HETIONET_KINDS[end_kind],
                frame,
            )
        )
    return tables, duplicates


def _endpoint(
    path: Path,
    line: int,
    nodes: dict[str, tuple[str, str, str, str]],
    hetionet_id: str,
    kind: str,
    metaedge: str,
) -> str:
    node = nodes.get(hetionet_id)
    if node is None:
        raise SourceError(
            path,
            line,
            f"endpoint {hetionet_id!r} is not in the nodes file",
            "load the nodes file of the same Hetionet release",
        )
    if node[0] != kind:
        raise SourceError(
            path, line, f"{metaedge} needs a {kind} node, but {hetionet_id!r} is a {node[0]}"
        )
    return node[1]
