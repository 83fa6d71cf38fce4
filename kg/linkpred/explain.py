"""Which paths carried a path model's prediction, and how much each weighed.

A path model (``kg.models.pathgnn``) multiplies every message by its edge's weight
(1 by default), so the gradient of a score with respect to the edge weights says how
much each edge contributed to it (NBFNet's explanation, Zhu et al. 2021, section 4).
A path's weight is the sum of its edges' contributions; the best paths from the head
to the tail, of at most as many hops as the model has layers, are found by a beam
search that keeps the ``beam`` best partial paths per node and hop. Only edges with a
non-zero contribution take part: with pruning these are the few the query propagated
along. The link being explained is hidden from the graph first: it cannot explain
itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kg.linkpred.errors import LinkPredictionError
from kg.models import Embeddings, LinkPredictor


@dataclass
class PathExplanation:
    nodes: list[int]  # node indices, head first, tail last
    relations: list[int]  # per hop, in [0, 2R): r >= R walks a fact r - R backwards
    edge_weights: list[float]  # each hop's contribution to the score
    weight: float  # their sum

    def text(self, node_ids: list[str], relations: list[str]) -> str:
        """``a -[R]-> b <-[S]- c``: arrows as the facts point, whichever way the path
        walks them."""
        num_rel = len(relations)
        out = node_ids[self.nodes[0]]
        for r, v in zip(self.relations, self.nodes[1:], strict=True):
            name = relations[r % num_rel]
            out += f" -[{name}]-> " if r < num_rel else f" <-[{name}]- "
            out += node_ids[v]
        return out


def edge_contributions(model: LinkPredictor, emb: Embeddings, head: int, rel: int,
                       tail: int) -> tuple[Tensor, Tensor]:
    """The score of ``tail`` as an answer of ``(head, rel, ?)`` and the gradient of it
    with respect to every directed edge's weight: (), (2E,)."""
    if emb.graph is None:
        raise LinkPredictionError("path explanations need a path model (encoder 'nbfnet'); "
                                  "this model has no paths to weigh")
    graph = emb.graph
    weight = torch.ones(graph.num_directed_edges, device=graph.dst.device, requires_grad=True)
    with torch.enable_grad():
        score = model.encoder(graph, torch.tensor([head], device=weight.device),
                              torch.tensor([rel], device=weight.device), weight)[0, tail]
        (grad,) = torch.autograd.grad(score, weight)
    return score.detach(), grad


def explain_paths(model: LinkPredictor, emb: Embeddings, head: int, rel: int, tail: int,
                  k: int = 5, beam: int = 10, max_hops: int | None = None
                  ) -> list[PathExplanation]:
    """The ``k`` heaviest paths from ``head`` to ``tail`` behind the score of
    ``(head, rel, tail)`` (``rel`` in [0, 2R); the link itself is hidden), best first."""
    if k < 1 or beam < 1:
        raise ValueError(f"k and beam must be >= 1, got {k}, {beam}")
    num_rel = model.config.num_relations
    fact = torch.tensor([[head, rel % num_rel, tail]] if rel < num_rel else
                        [[tail, rel - num_rel, head]], device=emb.relations.device)
    emb = model.hide(emb, fact)
    _, grad = edge_contributions(model, emb, head, rel, tail)
    graph = emb.graph
    hops = max_hops or len(model.encoder.convs)
    used = (grad[graph.eid] != 0).nonzero().squeeze(1)  # CSR positions that contributed
    src = torch.repeat_interleave(torch.arange(graph.num_nodes, device=grad.device),
                                  graph.rowptr.diff())[used].tolist()
    dst, rels = graph.dst[used].tolist(), graph.rel[used].tolist()
    contribution = grad[graph.eid[used]].tolist()
    out_of: dict[int, list[int]] = {}
    for i, s in enumerate(src):
        out_of.setdefault(s, []).append(i)
    # partial paths per end node: (weight, nodes, edge indices into the lists above)
    frontier: dict[int, list[tuple[float, list[int], list[int]]]] = {head: [(0.0, [head], [])]}
    found: list[tuple[float, list[int], list[int]]] = []
    for _ in range(hops):
        grown: dict[int, list[tuple[float, list[int], list[int]]]] = {}
        for node, paths in frontier.items():
            for w, nodes, edges in paths:
                for i in out_of.get(node, []):
                    if dst[i] in nodes:  # simple paths only
                        continue
                    grown.setdefault(dst[i], []).append((w + contribution[i], nodes + [dst[i]],
                                                         edges + [i]))
        frontier = {v: sorted(p, key=lambda x: -x[0])[:beam] for v, p in grown.items()}
        found += frontier.pop(tail, [])  # a path that reached the tail ends there
    found.sort(key=lambda x: -x[0])
    return [PathExplanation(nodes, [rels[i] for i in edges], [contribution[i] for i in edges],
                            w) for w, nodes, edges in found[:k]]
