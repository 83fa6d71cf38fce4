"""Predictions for nodes added after training, without retraining.

The graph *now* (its node ids and facts, e.g. a fresh export of Neo4j) may hold nodes
the model never saw. A path model (``kg.models.pathgnn``) has no node embeddings: it
propagates over the current graph from the query's node, so a new node with a few
links gets predictions like any other (inductive by construction). A model with node
embeddings gets the shallow baseline instead: a new node's vector is the mean of the
vectors of its neighbours that were known at training (zero when it has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.evaluation import ScoreFn
from kg.linkpred.task import LinkPredictionTask
from kg.models import Embeddings


@dataclass
class Partner:
    node: str
    score: float  # the model's raw score
    probability: float  # calibrated (Platt scaling fitted after training)
    rank: int


def current_embeddings(task: LinkPredictionTask, node_ids: list[str], triples: Tensor
                       ) -> tuple[Embeddings, Tensor]:
    """The model's view of the graph now: ``node_ids`` (N') and ``triples`` (E', 3) over
    them with the task's relation indices. Returns the embeddings to score with and a
    (N',) bool mask of the nodes unknown at training."""
    trained = {node: i for i, node in enumerate(task.graph.node_ids)} if task.graph else None
    if trained is None:
        raise LinkPredictionError("attach the run's training graph first (task.attach)")
    device = task.device
    n = len(node_ids)
    old = torch.tensor([trained.get(node, -1) for node in node_ids], dtype=torch.long)
    new = old < 0
    triples = triples.to(device)
    if task.model.conditional:
        emb = task.model.embed(triples[:, [0, 2]].T.contiguous(), triples[:, 1].contiguous(),
                               num_nodes=n)
        return emb, new
    emb = task.embed()
    vectors = emb.nodes.new_zeros(n, emb.nodes.size(1))
    vectors[~new] = emb.nodes[old[~new].to(device)]
    # each new node: mean of its known neighbours' trained vectors, over both directions
    ends = torch.cat([triples[:, [0, 2]], triples[:, [2, 0]]])  # (2E', 2) node, neighbour
    new_dev, old_dev = new.to(device), old.to(device)
    ends = ends[new_dev[ends[:, 0]] & ~new_dev[ends[:, 1]]]
    total = vectors.new_zeros(n, vectors.size(1)).index_add_(
        0, ends[:, 0], emb.nodes[old_dev[ends[:, 1]]])
    count = torch.bincount(ends[:, 0], minlength=n).clamp(min=1).unsqueeze(1)
    vectors[new_dev] = (total / count)[new_dev]
    return Embeddings(vectors, emb.relations), new


def inductive_score_fn(task: LinkPredictionTask, node_ids: list[str], triples: Tensor
                       ) -> ScoreFn:
    """(anchor, rel in [0, 2R)) -> (B, N') scores over the graph now, for ranking."""
    emb, _ = current_embeddings(task, node_ids, triples)

    @torch.no_grad()
    def score(anchor: Tensor, rel: Tensor) -> Tensor:
        return task.model.score_queries(emb, anchor.to(task.device), rel.to(task.device))
    return score


@torch.no_grad()
def predict_partners(task: LinkPredictionTask, node_ids: list[str], triples: Tensor,
                     node: str, relation: str, k: int = 10, *, as_tail: bool = False,
                     candidates: Tensor | None = None) -> list[Partner]:
    """The ``k`` best partners of ``node`` for ``relation`` in the graph now: tails of
    ``(node, relation, ?)``, or heads of ``(?, relation, node)`` with ``as_tail``. Never
    the node itself nor a partner it already has; ``candidates`` (N',) bool limits the
    answers further (e.g. to the relation's node types)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    graph = task.graph
    if graph is None:
        raise LinkPredictionError("attach the run's training graph first (task.attach)")
    index = {n: i for i, n in enumerate(node_ids)}
    if node not in index:
        raise LinkPredictionError(f"unknown node {node!r}")
    r = graph.relation_index(relation)
    was_training = task.training
    task.eval()
    try:
        score_fn = inductive_score_fn(task, node_ids, triples)
        u = index[node]
        query_rel = r + graph.num_relations if as_tail else r
        scores = score_fn(torch.tensor([u]), torch.tensor([query_rel]))[0].cpu()
    finally:
        task.train(was_training)
    blocked = torch.zeros(len(node_ids), dtype=torch.bool)
    blocked[u] = True
    side, other = (2, 0) if as_tail else (0, 2)
    known = triples[(triples[:, 1] == r) & (triples[:, side] == u)]
    blocked[known[:, other]] = True
    if candidates is not None:
        blocked |= ~candidates.bool().cpu()
    scores = scores.masked_fill(blocked, float("-inf"))
    top, idx = scores.topk(min(k, len(node_ids)))
    keep = torch.isfinite(top)
    probability = task.model.probability(top[keep].to(task.device)).cpu()
    return [Partner(node_ids[i], float(s), float(p), rank) for rank, (i, s, p) in enumerate(
        zip(idx[keep].tolist(), top[keep].tolist(), probability.tolist(), strict=True),
        start=1)]
