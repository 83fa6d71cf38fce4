"""A CompGCN-style layer (Vashishth et al., ICLR 2020), written on PyG's MessagePassing.

A message along an edge ``h -r-> t`` composes the neighbour with the
relation, ``phi(x_h, z_r)``, instead of giving each relation its own weight
matrix as R-GCN does: parameters then grow with the embedding size only, not
with the number of relations, and relation embeddings are learnt jointly and
updated per layer (``z' = z W_rel``) so the decoder can use them directly.
Edges are used in both directions (``r`` and its inverse ``r^-1`` with their
own weights ``W_in`` / ``W_out``) plus a self-loop with its own relation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import degree

COMPOSITIONS = ("sub", "mult", "corr")


def circular_correlation(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b)_k = sum_i a_i b_{(i + k) mod d}`` over the last dim, in O(d log d) by FFT."""
    d = a.size(-1)
    return torch.fft.irfft(torch.conj(torch.fft.rfft(a, dim=-1)) * torch.fft.rfft(b, dim=-1),
                           n=d, dim=-1)


def compose(x: Tensor, rel: Tensor, op: str) -> Tensor:
    """phi(x, z): (..., d), (..., d) -> (..., d)."""
    if op == "sub":
        return x - rel
    if op == "mult":
        return x * rel
    if op == "corr":
        return circular_correlation(x, rel)
    raise ValueError(f"unknown composition {op!r}; choose one of {COMPOSITIONS}")


def _symmetric_norm(edge_index: Tensor, num_nodes: int, full_degree: Tensor | None) -> Tensor:
    """1 / sqrt(deg(source) * deg(target)), degrees counted in this direction's edges: (E,).

    ``full_degree`` (N,): the whole graph's degrees when ``edge_index`` is a sampled
    part of it. Each target's messages are then also scaled by its degree over the
    number of its edges that were sampled, so that their sum estimates the whole
    graph's (and equals it when every neighbour was sampled)."""
    src, dst = edge_index
    local = degree(dst, num_nodes)
    if full_degree is None:
        inv_sqrt = local.clamp(min=1).pow(-0.5)
        return inv_sqrt[src] * inv_sqrt[dst]
    full = full_degree.to(local.dtype).clamp(min=1)
    return full[src].pow(-0.5) * full[dst].pow(0.5) / local[dst].clamp(min=1)


class CompGCNConv(MessagePassing):
    def __init__(self, in_dim: int, out_dim: int, num_relations: int, composition: str = "mult",
                 dropout: float = 0.0, activation: bool = True):
        super().__init__(aggr="add")
        if composition not in COMPOSITIONS:
            raise ValueError(f"unknown composition {composition!r}; choose one of "
                             f"{COMPOSITIONS}")
        if in_dim < 1 or out_dim < 1 or num_relations < 1:
            raise ValueError("in_dim, out_dim and num_relations must be positive")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.num_relations = num_relations  # without inverses
        self.composition = composition
        self.activation = activation
        self.w_in = nn.Parameter(torch.empty(in_dim, out_dim))  # original direction h -> t
        self.w_out = nn.Parameter(torch.empty(in_dim, out_dim))  # inverse direction t -> h
        self.w_loop = nn.Parameter(torch.empty(in_dim, out_dim))
        self.w_rel = nn.Parameter(torch.empty(in_dim, out_dim))
        self.loop_rel = nn.Parameter(torch.empty(1, in_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for w in (self.w_in, self.w_out, self.w_loop, self.w_rel, self.loop_rel):
            nn.init.xavier_uniform_(w)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, rel: Tensor,
                degree: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (N, in); edge_index (2, E) in both directions: edge_type (E,) in [0, R) for
        the graph's edges, in [R, 2R) for their inverses (see ``encoders.with_inverse``);
        rel (2R, in): forward then inverse relations; degree (N, 2): each node's in-degree
        over forward and over inverse edges in the whole graph when the edges are a sampled
        part of it, else None. Returns (N, out), (2R, out)."""
        n = x.size(0)
        inverse = edge_type >= self.num_relations
        out_in, out_out = (
            self.propagate(edge_index[:, mask], x=x, rel=rel[edge_type[mask]], weight=weight,
                           norm=_symmetric_norm(edge_index[:, mask], n,
                                                None if degree is None else degree[:, side]))
            for side, (mask, weight) in enumerate(((~inverse, self.w_in),
                                                   (inverse, self.w_out))))
        loop = compose(x, self.loop_rel, self.composition) @ self.w_loop
        h = (self.dropout(out_in) + self.dropout(out_out) + loop) / 3 + self.bias
        if self.activation:
            h = torch.tanh(h)
        return h, rel @ self.w_rel

    def message(self, x_j: Tensor, rel: Tensor, norm: Tensor, weight: Tensor) -> Tensor:
        # x_j, rel: (E, in) -> (E, out)
        return (compose(x_j, rel, self.composition) @ weight) * norm.unsqueeze(-1)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_dim}, {self.out_dim}, "
                f"num_relations={self.num_relations}, composition={self.composition!r})")
