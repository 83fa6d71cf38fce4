"""Type-constrained negative sampling.

A negative for ``(h, r, t)`` replaces its head or its tail (each with
probability 1/2) by a random node *of a type that ``r`` is observed with on
that side* in the training triples: a gene-disease link is corrupted into
another gene-disease pair, never into a gene-phenotype one, which a model
would learn to reject from the types alone. On a graph with a single node
type (DDB14) this is plain uniform corruption. Negatives are not filtered
against known triples: with thousands of candidates a false negative is rare
and filtering would cost a lookup per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def observed_types(triples: Tensor, node_type: Tensor, num_relations: int,
                   num_types: int) -> tuple[Tensor, Tensor]:
    """Domain and range of each relation as (R, T) bool masks of node types."""
    domain = torch.zeros(num_relations, num_types, dtype=torch.bool)
    range_ = torch.zeros(num_relations, num_types, dtype=torch.bool)
    domain[triples[:, 1], node_type[triples[:, 0]]] = True
    range_[triples[:, 1], node_type[triples[:, 2]]] = True
    return domain, range_


def _pools(allowed: Tensor, node_type: Tensor) -> tuple[Tensor, Tensor]:
    # CSR layout: the nodes allowed for relation r are pool[ptr[r]:ptr[r + 1]]
    per_relation = [mask[node_type].nonzero().squeeze(1) for mask in allowed]  # R is small
    sizes = torch.tensor([len(p) for p in per_relation])
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    return torch.cat(per_relation), ptr


class TypeConstrainedSampler(nn.Module):
    """Draws negatives from per-relation node pools; moves with its module's device."""

    def __init__(self, train: Tensor, node_type: Tensor, num_relations: int,
                 num_types: int | None = None, constrained: bool = True):
        super().__init__()
        num_types = int(node_type.max()) + 1 if num_types is None else num_types
        domain, range_ = observed_types(train, node_type, num_relations, num_types)
        if not constrained:
            domain, range_ = torch.ones_like(domain), torch.ones_like(range_)
        # a relation never seen in training has no constraint to keep
        domain[~domain.any(1)] = True
        range_[~range_.any(1)] = True
        head_pool, head_ptr = _pools(domain, node_type)
        tail_pool, tail_ptr = _pools(range_, node_type)
        # derived from the graph, so not part of a checkpoint
        self.register_buffer("domain", domain, persistent=False)
        self.register_buffer("range", range_, persistent=False)
        self.register_buffer("head_pool", head_pool, persistent=False)
        self.register_buffer("head_ptr", head_ptr, persistent=False)
        self.register_buffer("tail_pool", tail_pool, persistent=False)
        self.register_buffer("tail_ptr", tail_ptr, persistent=False)
        self.register_buffer("node_type", node_type.clone(), persistent=False)

    def allowed(self, relation: int, side: str) -> Tensor:
        """(N,) bool: the nodes that may stand on ``side`` ("head" or "tail") of ``relation``."""
        masks = {"head": self.domain, "tail": self.range}[side]
        return masks[relation][self.node_type]

    def allowed_answers(self) -> Tensor:
        """(2R, N) bool: the possible answers of a query relation, tails of r for r < R,
        heads of r for r + R (the inverse query), as ranking and the 1-N loss use them."""
        return torch.cat([self.range[:, self.node_type], self.domain[:, self.node_type]])

    @staticmethod
    def _draw(pool: Tensor, ptr: Tensor, rel: Tensor, generator: torch.Generator | None
              ) -> Tensor:
        start, size = ptr[rel], ptr[rel + 1] - ptr[rel]  # (B, k) each
        u = torch.rand(rel.shape, generator=generator, device=rel.device)
        offset = torch.minimum((u * size).long(), size - 1)  # guards float rounding up to size
        return pool[start + offset]

    def forward(self, triples: Tensor, num_negatives: int,
                generator: torch.Generator | None = None) -> Tensor:
        """(B, 3) positives -> (B, k, 3) negatives, each with its head or its tail replaced."""
        k = num_negatives
        neg = triples.unsqueeze(1).repeat(1, k, 1)  # (B, k, 3)
        rel = neg[..., 1]
        tail = torch.rand(rel.shape, generator=generator, device=rel.device) < 0.5  # (B, k)
        new_tail = self._draw(self.tail_pool, self.tail_ptr, rel, generator)
        new_head = self._draw(self.head_pool, self.head_ptr, rel, generator)
        neg[..., 2] = torch.where(tail, new_tail, neg[..., 2])
        neg[..., 0] = torch.where(tail, neg[..., 0], new_head)
        return neg
