"""Triples files: ``head<TAB>relation<TAB>tail`` per line, no header.

This is the format of the knowledge-graph completion benchmarks (DDB14,
UMLS, Nations, ...), split over train/valid/test files. Entities have no
names or types there, so every entity gets one label (``Entity`` unless a
``label_map`` says otherwise) and its id as name. Splits are a modelling
concern and stay out of the graph: the files are simply loaded together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from kg.errors import SourceError
from kg.schema import Schema, relation_to_type
from kg.sources._io import file_version, read_tsv, schema_name
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance

COLUMNS = ("head", "relation", "tail")
DUPLICATES = "duplicate triples (same head, type and tail)"


def load_triples(
    path: str | Path,
    *,
    entity_label: str = "Entity",
    relation_map: Mapping[str, str] | None = None,
    label_map: Mapping[str, str] | None = None,
    source: str = "triples",
    version: str | None = None,
) -> GraphTables:
    """Load one triples file. See :func:`load_triples_files`."""
    return load_triples_files(
        [path],
        entity_label=entity_label,
        relation_map=relation_map,
        label_map=label_map,
        source=source,
        version=version,
    )


def load_triples_files(
    paths: Iterable[str | Path],
    *,
    entity_label: str = "Entity",
    relation_map: Mapping[str, str] | None = None,
    label_map: Mapping[str, str] | None = None,
    source: str = "triples",
    version: str | None = None,
) -> GraphTables:
    """Load triples files (e.g. train, valid, test) into one graph.

    Without ``relation_map`` a relation's text becomes its type through
    :func:`kg.schema.relation_to_type`; with it, every relation must be a key
    of the map. The relation's text is kept on each edge as ``relation``.
    ``label_map`` gives some entities a label other than ``entity_label``.
    Triples with the same head, type and tail are kept once and counted in
    ``skipped``. ``version`` defaults to a hash of the files' contents.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no triples files given")
    # Names given as arguments are checked before any file is read.
    schema = Schema()
    schema.add_label(entity_label)
    for label in set((label_map or {}).values()):
        schema.add_label(label)
    for rel_type in set((relation_map or {}).values()):
        schema.add_rel_type(rel_type)

    def label_of(entity: str) -> str:
        return label_map.get(entity, entity_label) if label_map else entity_label

    types: dict[str, str] = {}  # relation text -> type, cached (DDB14 has 14 texts)
    entities: dict[str, str] = {}  # id -> label, in first-seen order
    edges: dict[tuple[str, str, str], str] = {}  # (type, head, tail) -> relation text
    duplicates = 0
    for path in paths:
        before = len(edges) + duplicates
        for row in read_tsv(path, COLUMNS, header=False):
            relation = row["relation"]
            rel_type = types.get(relation)
            if rel_type is None:
                rel_type = _type_for(path, row.line, relation, relation_map, schema)
                types[relation] = rel_type
            head, tail = row["head"], row["tail"]
            entities.setdefault(head, label_of(head))
            entities.setdefault(tail, label_of(tail))
            key = (rel_type, head, tail)
            if key in edges:
                duplicates += 1
            else:
                edges[key] = relation
        if len(edges) + duplicates == before:
            raise SourceError(path, None, "no triples in the file (only blank lines)",
                              "expected head<TAB>relation<TAB>tail lines")

    tables = GraphTables(
        provenance=Provenance(source=source, version=version or file_version(paths)),
        nodes=_node_tables(entities),
        edges=_edge_tables(edges, entities),
    )
    if duplicates:
        tables.skipped[DUPLICATES] = duplicates
    return tables


def _type_for(
    path: Path, line: int, relation: str, relation_map: Mapping[str, str] | None, schema: Schema
) -> str:
    if relation_map is None:
        rel_type = schema_name(path, line, relation_to_type, relation)
        return schema.add_rel_type(rel_type)
    if relation not in relation_map:
        raise SourceError(
            path,
            line,
            f"relation {relation!r} is not in the relation map",
            f"map it to a type; the map has {sorted(relation_map)}",
        )
    return relation_map[relation]


def _node_tables(entities: dict[str, str]) -> list[NodeTable]:
    by_label: dict[str, list[str]] = {}
    for entity, label in entities.items():
        by_label.setdefault(label, []).append(entity)
    return [
        NodeTable(label, pd.DataFrame({"id": ids, "name": ids}, dtype=object))
        for label, ids in sorted(by_label.items())
    ]


def _edge_tables(
    edges: dict[tuple[str, str, str], str], entities: dict[str, str]
) -> list[EdgeTable]:
    groups: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
    for (rel_type, head, tail), relation in edges.items():
        key = (rel_type, entities[head], entities[tail])
        groups.setdefault(key, []).append((head, tail, relation))
    return [
        EdgeTable(
            rel_type,
            start_label,
            end_label,
            pd.DataFrame(rows, columns=["start", "end", "relation"], dtype=object),
        )
        for (rel_type, start_label, end_label), rows in sorted(groups.items())
    ]
