"""Node encoders on a homogeneous multi-relational graph.

Every encoder owns learnable node embeddings (the graph has no node
features) and maps the message-passing graph ``edge_index (2, E)``,
``edge_type (E,)`` with types in ``[0, R)`` to node representations
``(N, dim)``; inverse edges are added inside, so callers pass each fact
once. An encoder that learns relation representations too (CompGCN) returns
them as ``(2R, dim)``, forward relations first, then their inverses; the
others return None and the model keeps its own relation table.

For neighbour-sampled training, :meth:`Encoder.forward_subgraph` runs the same
layers on a :class:`Subgraph`: a sampled part of the graph in local node ids,
whose inverse edges are already there (they must be, for the sampler to follow
edges both ways), and returns the vectors of its seed nodes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import FastRGCNConv, RGCNConv

from kg.models.compgcn import COMPOSITIONS, CompGCNConv
from kg.models.registry import Registry


class Encoded(NamedTuple):
    nodes: Tensor  # (N, dim)
    relations: Tensor | None  # (2R, dim) forward then inverse, or None


class Subgraph(NamedTuple):
    """A sampled part of the message-passing graph around some seed nodes."""

    nodes: Tensor  # (n,) global ids of its nodes, the seeds first
    num_seeds: int
    edge_index: Tensor  # (2, e) local ids; inverse edges included, typed r + R
    edge_type: Tensor  # (e,) in [0, 2R)
    # (n, 2) each node's in-degree in the whole graph over forward / inverse edges: a
    # sampled node lacks most of its edges, and normalising by degree needs the true ones
    degree: Tensor


@dataclass
class EncoderConfig:
    num_nodes: int
    num_relations: int  # without inverses
    dim: int = 128

    def check(self) -> None:
        if self.num_nodes < 1 or self.num_relations < 1 or self.dim < 1:
            raise ValueError(f"num_nodes, num_relations and dim must be positive: {self}")


class Encoder(nn.Module):
    config: EncoderConfig
    learns_relations = False  # True: forward() returns relation vectors (2R, dim)
    conditional = False  # True: a path model, scoring queries (see kg.models.pathgnn)

    def __init__(self, config: EncoderConfig):
        super().__init__()
        config.check()
        self.config = config
        self.embedding = nn.Embedding(config.num_nodes, config.dim)

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.embedding.weight)

    def forward(self, edge_index: Tensor, edge_type: Tensor) -> Encoded:
        """The whole graph, each fact once: (N, dim) and the relation vectors or None."""
        ei, et = with_inverse(edge_index, edge_type, self.config.num_relations)
        return self.encode(self.embedding.weight, ei, et, None)

    def forward_subgraph(self, sub: Subgraph) -> Encoded:
        """The seed nodes' vectors (num_seeds, dim) from a sampled subgraph. Only they
        have their full (sampled) neighbourhood; the other nodes only feed them."""
        out = self.encode(self.embedding(sub.nodes), sub.edge_index, sub.edge_type, sub.degree)
        return Encoded(out.nodes[:sub.num_seeds], out.relations)

    def encode(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
               degree: Tensor | None) -> Encoded:
        """x (n, dim) input vectors of the graph's nodes; edge_index (2, e) and edge_type
        (e,) in [0, 2R) with the inverse edges; degree as in :class:`Subgraph`, or None
        when the edges are the whole graph."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        c = self.config
        return f"num_nodes={c.num_nodes}, num_relations={c.num_relations}, dim={c.dim}"


ENCODERS: Registry[Encoder] = Registry("encoder")


def _check_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p}")


def with_inverse(edge_index: Tensor, edge_type: Tensor, num_relations: int
                 ) -> tuple[Tensor, Tensor]:
    """Each edge h -r-> t plus t -(r + R)-> h: (2, 2E), (2E,)."""
    return (torch.cat([edge_index, edge_index.flip(0)], dim=1),
            torch.cat([edge_type, edge_type + num_relations]))


@ENCODERS.register("none", EncoderConfig)
class ShallowEncoder(Encoder):
    """No message passing: the node embeddings themselves (a plain KGE model)."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.reset_parameters()

    def forward(self, edge_index: Tensor, edge_type: Tensor) -> Encoded:
        return Encoded(self.embedding.weight, None)  # no edges read: no inverses to add

    def encode(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
               degree: Tensor | None) -> Encoded:
        return Encoded(x, None)


@dataclass
class RGCNConfig(EncoderConfig):
    num_layers: int = 2
    num_bases: int | None = 4  # basis decomposition; None: one full matrix per relation
    dropout: float = 0.1
    fast: bool = False  # FastRGCNConv: faster for few edges, but (E, dim, dim) memory


@ENCODERS.register("rgcn", RGCNConfig)
class RGCNEncoder(Encoder):
    """R-GCN (Schlichtkrull et al. 2018) with basis decomposition, on PyG's RGCNConv."""

    config: RGCNConfig

    def __init__(self, config: RGCNConfig):
        super().__init__(config)
        if config.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {config.num_layers}")
        _check_dropout(config.dropout)
        total = 2 * config.num_relations  # with inverses
        if config.num_bases is not None and not 1 <= config.num_bases <= total:
            raise ValueError(f"num_bases must be in [1, {total}] (2 x num_relations): more "
                             f"bases than relation types only adds parameters; got "
                             f"{config.num_bases}")
        conv = FastRGCNConv if config.fast else RGCNConv
        self.convs = nn.ModuleList(
            conv(config.dim, config.dim, total, num_bases=config.num_bases)
            for _ in range(config.num_layers))
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()

    def encode(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
               degree: Tensor | None) -> Encoded:
        # RGCNConv averages each relation's messages: no degrees needed
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index, edge_type)  # (n, dim)
            if i < len(self.convs) - 1:
                x = self.dropout(torch.relu(x))
        return Encoded(x, None)


@dataclass
class CompGCNConfig(EncoderConfig):
    num_layers: int = 2
    composition: str = "mult"  # "sub" | "mult" | "corr"
    dropout: float = 0.1


@ENCODERS.register("compgcn", CompGCNConfig)
class CompGCNEncoder(Encoder):
    """Composition-based multi-relational GCN; relation embeddings are updated per layer."""

    config: CompGCNConfig
    learns_relations = True

    def __init__(self, config: CompGCNConfig):
        super().__init__(config)
        if config.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {config.num_layers}")
        if config.composition not in COMPOSITIONS:
            raise ValueError(f"unknown composition {config.composition!r}; choose one of "
                             f"{COMPOSITIONS}")
        _check_dropout(config.dropout)
        self.relation = nn.Parameter(torch.empty(2 * config.num_relations, config.dim))
        self.convs = nn.ModuleList(
            CompGCNConv(config.dim, config.dim, config.num_relations, config.composition,
                        config.dropout)
            for _ in range(config.num_layers))
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.xavier_uniform_(self.relation)
        for conv in self.convs:
            conv.reset_parameters()

    def encode(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
               degree: Tensor | None) -> Encoded:
        rel = self.relation  # (2R, dim), global even on a subgraph
        for i, conv in enumerate(self.convs):
            x, rel = conv(x, edge_index, edge_type, rel, degree)
            if i < len(self.convs) - 1:
                x = self.dropout(x)
        return Encoded(x, rel)
