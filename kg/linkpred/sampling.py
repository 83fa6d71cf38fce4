"""Neighbour-sampled training batches (``LinkPredictionConfig.num_neighbors``).

A batch of training triples gets its type-constrained negatives (our sampler,
so they keep to node types); the heads and tails of both are the seed nodes
from which PyG's :class:`~torch_geometric.sampler.NeighborSampler` (the sampler
``LinkNeighborLoader`` wraps, whose own negatives ignore node types) draws a
k-hop subgraph: per hop, at most ``num_neighbors[i]`` in-edges of each node of
the hop before (-1: all). The graph it samples already holds the inverse
edges (types ``r + R``), so neighbours are followed both ways, and the encoder
does not add them again (:meth:`Encoder.forward_subgraph`). The triples come
back in local node ids, the seeds first.

The sampler needs a compiled backend, pyg-lib or torch-sparse; neither has a
PyPI wheel for our torch, so ``scripts/build_sampling_wheels.sh`` builds and
installs torch-sparse (and torch-scatter, which it imports).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
import torch_geometric.typing
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.sampler import NeighborSampler, NodeSamplerInput
from torch_geometric.utils import degree

from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.negatives import TypeConstrainedSampler
from kg.models.encoders import Subgraph, with_inverse

BUILD_SCRIPT = "scripts/build_sampling_wheels.sh"


def require_backend() -> None:
    if not (torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE):
        raise LinkPredictionError(
            "num_neighbors (neighbour-sampled training) needs pyg-lib or torch-sparse, and "
            f"neither is installed: run {BUILD_SCRIPT} to build and install torch-sparse "
            "(a long compile the first time), or leave num_neighbors unset for full-graph "
            "training")


def check_fanouts(num_neighbors: list[int]) -> list[int]:
    """Per-hop fan-outs as PyG takes them: positive, or -1 for all neighbours."""
    if not isinstance(num_neighbors, list | tuple) or not num_neighbors or not all(
            isinstance(k, int) and not isinstance(k, bool) and (k >= 1 or k == -1)
            for k in num_neighbors):
        raise ValueError("num_neighbors must be a non-empty list of per-hop fan-outs, each a "
                         f"positive integer or -1 (all neighbours); got {num_neighbors!r}")
    return list(num_neighbors)


class SampledBatch(NamedTuple):
    subgraph: Subgraph
    positives: Tensor  # (B, 3) in the subgraph's local node ids
    negatives: Tensor  # (B, k, 3) likewise


class NeighbourBatches:
    """A DataLoader ``collate_fn`` turning rows of training triples into
    :class:`SampledBatch` es, so that ``num_workers`` can sample in parallel."""

    def __init__(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int,
                 num_relations: int, num_neighbors: list[int],
                 negatives: TypeConstrainedSampler, num_negatives: int):
        require_backend()
        edge_index, edge_type = with_inverse(edge_index.cpu(), edge_type.cpu(), num_relations)
        with warnings.catch_warnings():
            # without pyg-lib PyG warns that torch-sparse sampling is deprecated; it is the
            # backend that builds here (see the module docstring)
            warnings.filterwarnings("ignore", message=".*without a 'pyg-lib'",
                                    category=UserWarning)
            self.sampler = NeighborSampler(Data(edge_index=edge_index, num_nodes=num_nodes),
                                           num_neighbors=check_fanouts(num_neighbors))
        # the sampler reports edges by position in its own (CSC) order
        perm = self.sampler.edge_permutation
        self.edge_type = edge_type if perm is None else edge_type[perm]
        inverse = edge_type >= num_relations
        self.degree = torch.stack([degree(edge_index[1, ~inverse], num_nodes, torch.long),
                                   degree(edge_index[1, inverse], num_nodes, torch.long)], 1)
        self.negatives = negatives  # on the CPU, like the batches it samples for
        self.num_negatives = num_negatives

    def subgraph(self, seeds: Tensor) -> Subgraph:
        """The sampled subgraph around ``seeds`` (S,), unique global ids; its first S
        nodes are the seeds in the order given."""
        out = self.sampler.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds))
        if not torch.equal(out.node[:len(seeds)], seeds):  # the contract the ids rely on
            raise LinkPredictionError("the neighbour sampler did not list the seeds first")
        return Subgraph(out.node, len(seeds), torch.stack([out.row, out.col]),
                        self.edge_type[out.edge], self.degree[out.node])

    def __call__(self, rows: list[tuple[Tensor]]) -> SampledBatch:
        triples = torch.stack([row[0] for row in rows])  # (B, 3)
        negatives = self.negatives(triples, self.num_negatives)  # (B, k, 3)
        ends = [0, 2]  # head and tail columns
        seeds, local = torch.unique(
            torch.cat([triples[:, ends].reshape(-1), negatives[..., ends].reshape(-1)]),
            return_inverse=True)
        triples[:, ends] = local[:triples.size(0) * 2].view(-1, 2)
        negatives[..., ends] = local[triples.size(0) * 2:].view(*negatives.shape[:2], 2)
        return SampledBatch(self.subgraph(seeds), triples, negatives)
