"""A tiny typed graph with structure a model can learn (tests only).

Diseases and genes fall into three clusters: diseases are similar to diseases
of their own cluster, genes are associated with diseases of their own
cluster and interact with genes of the next one. A model that learns the
clusters can predict held-out links; a random scorer cannot.
"""

from __future__ import annotations

import torch
from torch_geometric.data import HeteroData

from kg.export import Export
from kg.linkpred import TripleGraph

CLUSTERS = 3
PER_TYPE = 24


def toy_export(seed: int = 0) -> Export:
    g = torch.Generator().manual_seed(seed)
    n = PER_TYPE
    cluster = torch.arange(n) % CLUSTERS
    data = HeteroData()
    data["Disease"].num_nodes = n
    data["Gene"].num_nodes = n

    def edges(same: torch.Tensor, p: float) -> torch.Tensor:
        keep = same & (torch.rand(n, n, generator=g) < p)
        return keep.nonzero().T.contiguous()  # (2, E)

    same = cluster[:, None] == cluster[None, :]
    data["Disease", "SIMILAR_TO", "Disease"].edge_index = edges(same & ~torch.eye(n).bool(),
                                                                0.6)
    data["Gene", "ASSOCIATED_WITH", "Disease"].edge_index = edges(same, 0.6)
    nxt = cluster[None, :] == (cluster[:, None] + 1) % CLUSTERS
    data["Gene", "INTERACTS_WITH", "Gene"].edge_index = edges(nxt, 0.5)
    id_maps = {"Disease": [f"OMIM:{i:03d}" for i in range(n)],
               "Gene": [f"NCBIGene:{i:03d}" for i in range(n)]}
    return Export(data, id_maps)


def toy_graph(seed: int = 0) -> TripleGraph:
    return TripleGraph.from_export(toy_export(seed), fractions=(0.8, 0.1, 0.1), seed=seed)


def random_edges(num_nodes: int, num_relations: int, num_edges: int, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    # every relation occurs, so every relation's weights take part
    edge_type = torch.arange(num_edges) % num_relations
    return edge_index, edge_type
