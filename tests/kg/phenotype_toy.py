"""A tiny HPO-like graph (tests only): an IS_A ontology of 22 terms, 8 diseases with 4
leaf terms each (no two alike), 8 genes associated with one or two diseases and, as in
HPO's genes_to_phenotype.txt, annotated with their diseases' terms. A model learns
the annotations, so diagnosing a disease from its own terms is learnable.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch_geometric.data import HeteroData

from kg.export import Export
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance

ROOT, ABNORMALITY = "HP:0000001", "HP:0000118"
SYSTEMS = ["HP:0000200", "HP:0000300", "HP:0000400", "HP:0000500"]
LEAVES = [[f"HP:0000{s + 2}0{j + 1}" for j in range(4)] for s in range(4)]  # [system][j]
TERM_NAMES = {ROOT: "All", ABNORMALITY: "Phenotypic abnormality",
              **{s: f"Abnormality of system {k}" for k, s in enumerate(SYSTEMS)},
              **{leaf: f"Finding {s}.{j}" for s, row in enumerate(LEAVES)
                 for j, leaf in enumerate(row)}}
PARENT = {ABNORMALITY: ROOT, **{s: ABNORMALITY for s in SYSTEMS},
          **{leaf: SYSTEMS[s] for s, row in enumerate(LEAVES) for leaf in row}}

DISEASES = [f"OMIM:10000{i + 1}" for i in range(8)]


# (system, leaf) pairs per disease: no two diseases alike, at most two terms shared
SIGNATURES = [
    [(0, 0), (0, 1), (1, 0), (1, 1)], [(1, 0), (1, 1), (2, 0), (2, 1)],
    [(2, 0), (2, 1), (3, 0), (3, 1)], [(3, 0), (3, 1), (0, 0), (0, 1)],
    [(0, 2), (0, 3), (2, 2), (2, 3)], [(1, 2), (1, 3), (3, 2), (3, 3)],
    [(0, 2), (1, 2), (2, 3), (3, 3)], [(0, 3), (1, 3), (2, 2), (3, 2)],
]
DISEASE_TERMS = {d: [LEAVES[s][j] for s, j in sig] for d, sig in zip(DISEASES, SIGNATURES,
                                                                       strict=True)}
GENES = [f"NCBIGene:{i + 1}" for i in range(8)]
GENE_DISEASES = {g: [DISEASES[i]] + ([DISEASES[(i + 4) % 8]] if i < 2 else [])
                 for i, g in enumerate(GENES)}
GENE_TERMS = {g: sorted({t for d in ds for t in DISEASE_TERMS[d]})
              for g, ds in GENE_DISEASES.items()}


def edges() -> dict[tuple[str, str, str], list[tuple[str, str]]]:
    return {
        ("Phenotype", "IS_A", "Phenotype"): sorted(PARENT.items()),
        ("Disease", "HAS_PHENOTYPE", "Phenotype"): [(d, t) for d, ts in DISEASE_TERMS.items()
                                                    for t in ts],
        ("Gene", "HAS_PHENOTYPE", "Phenotype"): [(g, t) for g, ts in GENE_TERMS.items()
                                                 for t in ts],
        ("Gene", "ASSOCIATED_WITH", "Disease"): [(g, d) for g, ds in GENE_DISEASES.items()
                                                 for d in ds],
    }


def tables() -> GraphTables:
    nodes = [
        NodeTable("Phenotype", pd.DataFrame({"id": list(TERM_NAMES),
                                             "name": list(TERM_NAMES.values())})),
        NodeTable("Disease", pd.DataFrame({"id": DISEASES,
                                           "name": [f"Syndrome {d[-1]}" for d in DISEASES]})),
        NodeTable("Gene", pd.DataFrame({"id": GENES, "symbol": [f"GENE{g.split(':')[1]}"
                                                                for g in GENES]})),
    ]
    rels = [EdgeTable(rel, start, end, pd.DataFrame(pairs, columns=["start", "end"]))
            for (start, rel, end), pairs in edges().items()]
    return with_provenance(GraphTables(Provenance("toy-hpo", "1"), nodes=nodes, edges=rels))


def export() -> Export:
    """What ``export_hetero`` gives for :func:`tables` (ids sorted per label)."""
    id_maps = {"Disease": sorted(DISEASES), "Gene": sorted(GENES),
               "Phenotype": sorted(TERM_NAMES)}
    index = {label: {n: i for i, n in enumerate(ids)} for label, ids in id_maps.items()}
    data = HeteroData()
    for label, ids in id_maps.items():
        data[label].num_nodes = len(ids)
    for (start, rel, end), pairs in edges().items():
        data[start, rel, end].edge_index = torch.tensor(
            [[index[start][a] for a, _ in pairs], [index[end][b] for _, b in pairs]])
    return Export(data, id_maps)
