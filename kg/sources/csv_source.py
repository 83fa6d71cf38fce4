"""Generic nodes/edges CSV files, described by a column mapping.

``node_columns`` maps ``id`` (required) and ``label`` (optional; else the
fixed ``label`` argument) to columns of the nodes file; any other key names
a property and the column it comes from. ``edge_columns`` maps ``start``,
``end``, ``type`` (else the fixed ``rel_type``) and optionally
``start_label`` / ``end_label``; other keys are properties likewise. Columns
not mapped are kept as properties under their own names, which must then be
identifiers. An empty property cell means "no value" (None).

An edge endpoint without a label column takes its label from the nodes
file. With a label column it may point at a node this file does not hold
(one already in the store, say); no node is made up for it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from kg.errors import SchemaError, SourceError
from kg.schema import KEY, Schema, is_identifier
from kg.sources._io import CsvTable, Row, file_version, read_csv, schema_name
from kg.tables import PROVENANCE_COLUMNS, EdgeTable, GraphTables, NodeTable, Provenance

NODE_KEYS = ("id", "label")
EDGE_KEYS = ("start", "end", "type", "start_label", "end_label")
DUPLICATES = "duplicate edges (same type and endpoints)"
_RESERVED_NODE = {KEY, *PROVENANCE_COLUMNS}
_RESERVED_EDGE = {"start", "end", *PROVENANCE_COLUMNS}


def load_csv(
    nodes_path: str | Path | None = None,
    edges_path: str | Path | None = None,
    *,
    node_columns: Mapping[str, str] | None = None,
    edge_columns: Mapping[str, str] | None = None,
    label: str | None = None,
    rel_type: str | None = None,
    delimiter: str = ",",
    source: str = "csv",
    version: str | None = None,
) -> GraphTables:
    """Load a nodes file, an edges file, or both. ``version`` defaults to a
    hash of the files' contents."""
    if nodes_path is None and edges_path is None:
        raise ValueError("give a nodes file, an edges file, or both")
    # Every argument is checked before any file is read.
    schema = Schema()
    if label is not None:
        schema.add_label(label)
    if rel_type is not None:
        schema.add_rel_type(rel_type)
    if nodes_path is not None:
        if node_columns is None or "id" not in node_columns:
            raise ValueError("node_columns must map 'id' to a column of the nodes file")
        if "label" not in node_columns and label is None:
            raise ValueError("map node_columns['label'] to a column or pass a fixed label")
        _check_property_keys(node_columns, NODE_KEYS, _RESERVED_NODE, "node_columns")
    if edges_path is not None:
        if edge_columns is None or not {"start", "end"} <= set(edge_columns):
            raise ValueError("edge_columns must map 'start' and 'end' to columns of the edges file")
        if "type" not in edge_columns and rel_type is None:
            raise ValueError("map edge_columns['type'] to a column or pass a fixed rel_type")
        _check_property_keys(edge_columns, EDGE_KEYS, _RESERVED_EDGE, "edge_columns")

    paths = [Path(p) for p in (nodes_path, edges_path) if p is not None]
    tables = GraphTables(Provenance(source=source, version=version or file_version(paths)))
    node_labels: dict[str, set[str]] = {}  # node id -> labels it has in the nodes file
    if nodes_path is not None:
        tables.nodes = _read_nodes(
            Path(nodes_path), node_columns, label, delimiter, schema, node_labels
        )
    if edges_path is not None:
        tables.edges, duplicates = _read_edges(
            Path(edges_path), edge_columns, rel_type, delimiter, schema, node_labels, nodes_path
        )
        if duplicates:
            tables.skipped[DUPLICATES] = duplicates
    return tables


def _check_property_keys(
    mapping: Mapping[str, str], keys: tuple[str, ...], reserved: set[str], what: str
) -> None:
    for name in mapping:
        if name in keys:
            continue
        if not is_identifier(name) or name in reserved:
            raise SchemaError(
                f"{what} key {name!r} cannot be a property name: use an identifier "
                f"other than {sorted(reserved)}"
            )


def _open(
    path: Path,
    mapping: Mapping[str, str],
    keys: tuple[str, ...],
    reserved: set[str],
    delimiter: str,
) -> tuple[CsvTable, dict[str, str]]:
    """Open the file and work out its properties: property name -> column."""
    structural = [mapping[k] for k in keys if k in mapping]
    table = read_csv(path, delimiter=delimiter, need=list(mapping.values()), required=structural)
    properties = {name: col for name, col in mapping.items() if name not in keys}
    mapped = set(mapping.values())
    for column in table.header:
        if column in mapped:
            continue
        if not is_identifier(column) or column in reserved or column in properties:
            raise SourceError(
                path,
                table.header_line,
                f"unmapped column {column!r} cannot be a property name",
                "map it to an identifier in the column mapping",
            )
        properties[column] = column
    return table, properties


def _properties(row: Row, properties: dict[str, str]) -> dict[str, str | None]:
    return {name: (row[col] if row[col].strip() else None) for name, col in properties.items()}


def _read_nodes(
    path: Path,
    columns: Mapping[str, str],
    fixed_label: str | None,
    delimiter: str,
    schema: Schema,
    node_labels: dict[str, set[str]],
) -> list[NodeTable]:
    table, properties = _open(path, columns, NODE_KEYS, _RESERVED_NODE, delimiter)
    seen: dict[tuple[str, str], int] = {}  # (label, id) -> line
    by_label: dict[str, list[dict]] = {}
    for row in table.rows:
        node_id = row[columns["id"]]
        label = fixed_label
        if "label" in columns:
            label = _label(path, row, row[columns["label"]], schema)
        if (label, node_id) in seen:
            raise SourceError(
                path,
                row.line,
                f"duplicate {label} node {node_id!r}",
                f"first seen on line {seen[(label, node_id)]}",
            )
        seen[(label, node_id)] = row.line
        node_labels.setdefault(node_id, set()).add(label)
        by_label.setdefault(label, []).append({KEY: node_id, **_properties(row, properties)})
    return [
        NodeTable(label, pd.DataFrame(rows, columns=[KEY, *properties], dtype=object))
        for label, rows in sorted(by_label.items())
    ]


def _read_edges(
    path: Path,
    columns: Mapping[str, str],
    fixed_type: str | None,
    delimiter: str,
    schema: Schema,
    node_labels: dict[str, set[str]],
    nodes_path: str | Path | None,
) -> tuple[list[EdgeTable], int]:
    table, properties = _open(path, columns, EDGE_KEYS, _RESERVED_EDGE, delimiter)
    groups: dict[tuple[str, str, str], dict[tuple[str, str], dict]] = {}
    duplicates = 0
    for row in table.rows:
        rel_type = fixed_type
        if "type" in columns:
            rel_type = schema_name(path, row.line, schema.add_rel_type, row[columns["type"]])
        ends = []
        for side in ("start", "end"):
            node_id = row[columns[side]]
            label_column = columns.get(f"{side}_label")
            if label_column is not None:
                label = _label(path, row, row[label_column], schema)
            else:
                label = _lookup(path, row.line, node_id, side, node_labels, nodes_path)
            ends.append((label, node_id))
        (start_label, start), (end_label, end) = ends
        pairs = groups.setdefault((rel_type, start_label, end_label), {})
        if (start, end) in pairs:
            duplicates += 1
        else:
            pairs[(start, end)] = _properties(row, properties)
    tables = [
        EdgeTable(
            rel_type,
            start_label,
            end_label,
            pd.DataFrame(
                [{"start": s, "end": e, **props} for (s, e), props in pairs.items()],
                columns=["start", "end", *properties],
                dtype=object,
            ),
        )
        for (rel_type, start_label, end_label), pairs in sorted(groups.items())
    ]
    return tables, duplicates


def _label(path: Path, row: Row, name: str, schema: Schema) -> str:
    if name in schema.labels:
        return name
    return schema_name(path, row.line, schema.add_label, name)


def _lookup(
    path: Path,
    line: int,
    node_id: str,
    side: str,
    node_labels: dict[str, set[str]],
    nodes_path: str | Path | None,
) -> str:
    labels = node_labels.get(node_id, set())
    if len(labels) == 1:
        return next(iter(labels))
    if not labels:
        where = f"the nodes file {nodes_path}" if nodes_path else "a nodes file (none given)"
        raise SourceError(
            path,
            line,
            f"{side} {node_id!r} is not in {where}",
            f"add it there, or map edge_columns['{side}_label'] to a label column",
        )
    raise SourceError(
        path,
        line,
        f"{side} {node_id!r} has several labels {sorted(labels)} in the nodes file",
        f"map edge_columns['{side}_label'] to say which",
    )
