"""Neo4j to PyG: the graph, or a chosen subgraph, as a ``HeteroData`` with
stable id maps (node ids sorted per label, so the same graph always gives the
same indices).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kg.errors import KGError
from kg.store import GraphStore

with warnings.catch_warnings():
    # PyG scripts a few helpers with torch.jit at import, which torch 2.10+ calls
    # deprecated: a warning about PyG's internals, not something a user can act on
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    from torch_geometric.data import HeteroData


@dataclass
class Export:
    data: HeteroData
    id_maps: dict[str, list[str]]  # label -> node ids; position = index in ``data[label]``

    def index(self, label: str) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.id_maps[label])}

    def summary(self) -> str:
        n = sum(len(v) for v in self.id_maps.values())
        e = sum(self.data[t].edge_index.shape[1] for t in self.data.edge_types)
        return (f"{n} nodes in {len(self.id_maps)} labels, "
                f"{e} edges in {len(self.data.edge_types)} types")


def export_hetero(store: GraphStore, labels: list[str] | None = None,
                  rel_types: list[str] | None = None) -> Export:
    """Read nodes of ``labels`` and relationships of ``rel_types`` (default: all present)."""
    patterns = store.patterns()
    present_labels = set(store.counts()["nodes"])
    if labels:
        unknown = [lab for lab in labels if lab not in present_labels]
        if unknown:
            raise KGError(f"no nodes with label(s) {unknown} in the graph; present: "
                          f"{sorted(present_labels)}")
        present_labels = set(labels)
    if rel_types:
        unknown = [t for t in rel_types if t not in {p["type"] for p in patterns}]
        if unknown:
            raise KGError(f"no relationships of type(s) {unknown} in the graph")
    patterns = [p for p in patterns
                if p["start"] in present_labels and p["end"] in present_labels
                and (not rel_types or p["type"] in rel_types)]

    data = HeteroData()
    id_maps: dict[str, list[str]] = {}
    for label in sorted(present_labels):
        store.schema.add_label(label)  # names read from the database itself
        ids = store.node_ids(label)
        id_maps[label] = ids
        data[label].num_nodes = len(ids)
    index = {label: pd.Index(ids) for label, ids in id_maps.items()}
    for p in patterns:
        store.schema.add_rel_type(p["type"])
        starts, ends = store.edge_pairs(p["type"], p["start"], p["end"])
        src = index[p["start"]].get_indexer(starts)
        dst = index[p["end"]].get_indexer(ends)
        # collect() skips nulls: a node without an id would shift or drop pairs
        if len(starts) != len(ends) or (src < 0).any() or (dst < 0).any():
            raise KGError(f"{p['start']}-[:{p['type']}]->{p['end']} joins nodes without an "
                          f"`id` property; give every node an id before exporting")
        # (2, num_edges), sorted so the export is the same run to run
        edge_index = torch.from_numpy(np.stack([src, dst]).astype(np.int64)).reshape(2, -1)
        order = torch.argsort(edge_index[0] * max(len(id_maps[p["end"]]), 1) + edge_index[1])
        data[p["start"], p["type"], p["end"]].edge_index = edge_index[:, order]
    return Export(data, id_maps)


def save_export(exported: Export, path: Path) -> None:
    """Write the export beside ``path`` and rename it into place, so a full disk or a
    file-size limit leaves no half-written file; either is one clear KGError."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"data": exported.data.to_dict(), "id_maps": exported.id_maps}, partial)
        partial.replace(path)
    except (OSError, RuntimeError) as err:  # torch's zip writer reports EFBIG as RuntimeError
        partial.unlink(missing_ok=True)
        # torch's zip writer says only "unexpected pos ..." when a write falls short
        reason = getattr(err, "strerror", None) or "the file could not be written whole"
        raise KGError(f"cannot write {path}: {reason} (is the disk full, or a file-size "
                      "limit set?)") from err


def load_export(path: Path) -> Export:
    # weights_only: the file is tensors, dicts, tuples and strings; unpickling anything
    # else (a crafted file) could run code
    blob = torch.load(path, weights_only=True)
    return Export(HeteroData.from_dict(blob["data"]), blob["id_maps"])
