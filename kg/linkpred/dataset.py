"""A knowledge graph as link prediction sees it: typed nodes, named relations,
and train / valid / test triples as index tensors.

Built from triples files (the benchmarks' format, e.g. DDB14) or from the
Neo4j export (a PyG ``HeteroData`` whose node labels become node types), and
written out as the same triples format plus ``nodes.tsv`` and
``relations.tsv``, so a split can be read back exactly and handed to another
tool (PyKEEN reads the triples files as they are).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from kg.export import Export
from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.splits import sort_triples, split_triples
from kg.sources._io import read_tsv

SPLITS = ("train", "valid", "test")
TRIPLE_COLUMNS = ("head", "relation", "tail")
NODE_COLUMNS = ("id", "type")
RELATION_COLUMNS = ("relation",)
DEFAULT_TYPE = "Entity"


@dataclass
class TripleGraph:
    node_ids: list[str]  # external id of node i
    node_type: Tensor  # (N,) index into node_types
    node_types: list[str]
    relations: list[str]  # name of relation r
    train: Tensor  # (E_train, 3) rows (head, relation, tail)
    valid: Tensor  # (E_valid, 3)
    test: Tensor  # (E_test, 3)

    def __post_init__(self) -> None:
        n = len(self.node_ids)
        if len(set(self.node_ids)) != n:
            raise LinkPredictionError("node ids are not unique")
        if self.node_type.shape != (n,):
            raise LinkPredictionError(f"node_type must have shape ({n},), "
                                      f"got {tuple(self.node_type.shape)}")
        if n and not 0 <= int(self.node_type.min()) <= int(self.node_type.max()) < len(
                self.node_types):
            raise LinkPredictionError("node_type holds an index outside node_types")
        for name in SPLITS:
            t = getattr(self, name)
            if t.dtype != torch.long or t.dim() != 2 or t.size(1) != 3:
                raise LinkPredictionError(f"{name} must be a (E, 3) LongTensor, got "
                                          f"{t.dtype} {tuple(t.shape)}")
            if len(t) and (t[:, [0, 2]].min() < 0 or t[:, [0, 2]].max() >= n
                           or t[:, 1].min() < 0 or t[:, 1].max() >= len(self.relations)):
                raise LinkPredictionError(f"{name} refers to a node or relation that "
                                          "does not exist")

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def all_triples(self) -> Tensor:
        """Every known triple (train, valid, test): the filter of filtered ranking."""
        return torch.cat([self.train, self.valid, self.test])

    def message_passing_graph(self) -> tuple[Tensor, Tensor]:
        """Training triples as edge_index (2, E) and edge_type (E,)."""
        return self.train[:, [0, 2]].T.contiguous(), self.train[:, 1].contiguous()

    def node_index(self) -> dict[str, int]:
        return {node: i for i, node in enumerate(self.node_ids)}

    def relation_index(self, name: str) -> int:
        try:
            return self.relations.index(name)
        except ValueError:
            raise LinkPredictionError(f"unknown relation {name!r}; the graph has "
                                      f"{self.relations}") from None

    def summary(self) -> str:
        return (f"{self.num_nodes} nodes of {len(self.node_types)} types, "
                f"{self.num_relations} relations, triples {len(self.train)} train / "
                f"{len(self.valid)} valid / {len(self.test)} test")

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_triples_files(cls, train: str | Path, valid: str | Path, test: str | Path, *,
                           node_types: Mapping[str, str] | None = None) -> TripleGraph:
        """Read ``head<TAB>relation<TAB>tail`` files (DDB14, UMLS, ...).

        Nodes are numbered in sorted id order and relations in sorted name
        order, so the same files always give the same indices. Every node is
        of type ``Entity`` unless ``node_types`` maps its id to another type.
        """
        rows = {name: _read_triples(Path(p)) for name, p in
                zip(SPLITS, (train, valid, test), strict=True)}
        ids = sorted({x for part in rows.values() for h, _, t in part for x in (h, t)})
        relations = sorted({r for part in rows.values() for _, r, _ in part})
        types = node_types or {}
        type_names = sorted({DEFAULT_TYPE if i not in types else types[i] for i in ids})
        type_index = {name: k for k, name in enumerate(type_names)}
        node_type = torch.tensor([type_index[types.get(i, DEFAULT_TYPE)] for i in ids],
                                 dtype=torch.long)
        return cls._from_rows(ids, node_type, type_names, relations, rows)

    @classmethod
    def from_triples_dir(cls, path: str | Path) -> TripleGraph:
        """Read ``train.txt``, ``valid.txt``, ``test.txt``; with the ``nodes.tsv`` and
        ``relations.tsv`` that :meth:`save` writes, the node and relation order too."""
        path = Path(path)
        files = [path / f"{name}.txt" for name in SPLITS]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise LinkPredictionError(f"missing triples file(s): {missing}")
        nodes_file, relations_file = path / "nodes.tsv", path / "relations.tsv"
        if not nodes_file.exists() or not relations_file.exists():
            return cls.from_triples_files(*files)
        nodes = [(r["id"], r["type"]) for r in read_tsv(nodes_file, NODE_COLUMNS, header=True)]
        relations = [r["relation"] for r in
                     read_tsv(relations_file, RELATION_COLUMNS, header=True)]
        type_names = sorted({t for _, t in nodes})
        type_index = {name: k for k, name in enumerate(type_names)}
        node_type = torch.tensor([type_index[t] for _, t in nodes], dtype=torch.long)
        rows = {name: _read_triples(f) for name, f in zip(SPLITS, files, strict=True)}
        return cls._from_rows([i for i, _ in nodes], node_type, type_names, relations, rows)

    @classmethod
    def _from_rows(cls, ids: list[str], node_type: Tensor, type_names: list[str],
                   relations: list[str], rows: dict[str, list[tuple[str, str, str]]]
                   ) -> TripleGraph:
        node_index = {node: i for i, node in enumerate(ids)}
        rel_index = {name: k for k, name in enumerate(relations)}
        splits = {}
        for name, part in rows.items():
            try:
                index = [(node_index[h], rel_index[r], node_index[t]) for h, r, t in part]
            except KeyError as err:
                raise LinkPredictionError(f"{name} triples name {err.args[0]!r}, which is "
                                          "not in nodes.tsv / relations.tsv") from None
            splits[name] = torch.tensor(index, dtype=torch.long).reshape(-1, 3)
        return cls(ids, node_type, type_names, relations, **splits)

    @classmethod
    def from_export(cls, export: Export, *, fractions: tuple[float, float, float] = (0.8, 0.1,
                    0.1), seed: int = 0, holdout_relations: list[str] | None = None
                    ) -> TripleGraph:
        """The exported graph as one homogeneous graph, split by ``seed``.

        Node labels become node types (nodes numbered label by label, in the
        export's stable order). A relationship type that joins several label
        pairs is one relation. ``holdout_relations`` limits valid/test to
        those relations; see :func:`split_triples`.
        """
        labels = sorted(export.id_maps)
        offset, ids, node_type = {}, [], []
        for k, label in enumerate(labels):
            offset[label] = len(ids)
            ids.extend(export.id_maps[label])
            node_type.extend([k] * len(export.id_maps[label]))
        if len(set(ids)) != len(ids):
            dupes = sorted(i for i, n in Counter(ids).items() if n > 1)[:5]
            raise LinkPredictionError(f"node ids shared by several labels, e.g. {dupes}: "
                                      "link prediction needs ids unique across labels")
        relations = sorted({rel for _, rel, _ in export.data.edge_types})
        parts = []
        for src, rel, dst in export.data.edge_types:
            ei = export.data[src, rel, dst].edge_index  # (2, E)
            r = torch.full((ei.size(1),), relations.index(rel), dtype=torch.long)
            parts.append(torch.stack([ei[0] + offset[src], r, ei[1] + offset[dst]], dim=1))
        triples = torch.cat(parts) if parts else torch.empty(0, 3, dtype=torch.long)
        triples = sort_triples(torch.unique(triples, dim=0))
        holdout = None
        if holdout_relations is not None:
            wanted = [relations.index(r) for r in holdout_relations if r in relations]
            if len(wanted) != len(holdout_relations):
                unknown = sorted(set(holdout_relations) - set(relations))
                raise LinkPredictionError(f"unknown holdout relation(s) {unknown}; the graph "
                                          f"has {relations}")
            holdout = torch.isin(triples[:, 1], torch.tensor(wanted))
        train, valid, test = split_triples(triples, fractions, seed, holdout)
        return cls(ids, torch.tensor(node_type, dtype=torch.long), labels, relations,
                   train, valid, test)

    # ---- files --------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the splits as triples files with nodes.tsv and relations.tsv."""
        path = Path(path)
        for value in [*self.node_ids, *self.node_types, *self.relations]:
            if any(c in value for c in "\t\r\n") or not value.strip():
                raise LinkPredictionError(f"{value!r} cannot be written to a TSV file")
        path.mkdir(parents=True, exist_ok=True)
        for name in SPLITS:
            lines = [f"{self.node_ids[h]}\t{self.relations[r]}\t{self.node_ids[t]}\n"
                     for h, r, t in getattr(self, name).tolist()]
            (path / f"{name}.txt").write_text("".join(lines), encoding="utf-8")
        (path / "nodes.tsv").write_text(
            "id\ttype\n" + "".join(f"{i}\t{self.node_types[t]}\n"
                                   for i, t in zip(self.node_ids, self.node_type.tolist(),
                                                   strict=True)), encoding="utf-8")
        (path / "relations.tsv").write_text(
            "relation\n" + "".join(f"{r}\n" for r in self.relations), encoding="utf-8")
        return path


def _read_triples(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        raise LinkPredictionError(f"missing triples file {path}")
    if path.stat().st_size == 0:  # an empty split (e.g. no test set) is written as an empty file
        return []
    return [(r["head"], r["relation"], r["tail"])
            for r in read_tsv(path, TRIPLE_COLUMNS, header=False)]
