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


def rule_graph(seed: int = 0, n: int = 40) -> TripleGraph:
    """The rule ``pq(x, z) <- p(x, y), q(y, z)`` on random edges: every x
    has one "p" partner and every y two "q" partners; half of the "pq" links train, the
    others are valid and test. Node ids carry no structure a shallow model could use."""
    g = torch.Generator().manual_seed(seed)
    p = torch.stack([torch.arange(n), torch.randint(0, n, (n,), generator=g)], 1)
    q = torch.cat([torch.stack([torch.arange(n), torch.randint(0, n, (n,), generator=g)], 1)
                   for _ in range(2)])
    pq = torch.unique(torch.stack([p[:, 0].repeat(2), q[p[:, 1].repeat(2) + torch.arange(
        2).repeat_interleave(n) * n, 1]], 1), dim=0)
    pq = pq[torch.randperm(len(pq), generator=g)]
    rel = {"p": 0, "pq": 1, "q": 2}

    def triples(pairs: torch.Tensor, name: str) -> torch.Tensor:
        return torch.stack([pairs[:, 0], torch.full((len(pairs),), rel[name]), pairs[:, 1]], 1)

    half, three = len(pq) // 2, 3 * len(pq) // 4
    train = torch.cat([triples(p, "p"), triples(torch.unique(q, dim=0), "q"),
                       triples(pq[:half], "pq")])
    return TripleGraph([f"n{i}" for i in range(n)], torch.zeros(n, dtype=torch.long),
                       ["Entity"], ["p", "pq", "q"], train, triples(pq[half:three], "pq"),
                       triples(pq[three:], "pq"))
