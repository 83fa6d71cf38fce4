"""Filtered ranking (MRR, Hits@k) and binary classification metrics (AUROC, AUPRC, by
scikit-learn).

Every test triple ``(h, r, t)`` gives two queries: tail prediction
``(h, r, ?)`` and head prediction ``(?, r, t)``, written as the inverse query
``(t, r + R, ?)``. A query's candidates are all nodes; the *other* known
answers (from train, valid and test) are removed before ranking ("filtered"
setting, Bordes et al. 2013). Ties are ranked *realistically*: the rank is the
mean of the optimistic and the pessimistic rank, ``1 + #higher + #tied / 2``
where ``#tied`` counts other candidates with exactly the target's score, so a
model that scores everything alike gets the rank of a random ordering rather
than rank 1. Everything runs on batches of queries at once; no loop visits a
triple or a candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

HITS_AT = (1, 3, 10)
ScoreFn = Callable[[Tensor, Tensor], Tensor]  # (anchor (B,), rel (B,) in [0, 2R)) -> (B, N)


class FilterIndex:
    """The known answers of every query ``(anchor, rel)``, ``rel`` in ``[0, 2R)``.

    Stored as one sorted vector of codes ``(anchor * 2R + rel) * N + answer``,
    so a batch's answers are found with two binary searches per query.
    """

    def __init__(self, triples: Tensor, num_nodes: int, num_relations: int):
        self.num_nodes, self.num_relations = num_nodes, num_relations
        h, r, t = triples.long().unbind(1)
        codes = torch.cat([self._code(h, r, t), self._code(t, r + num_relations, h)])
        self.codes = torch.unique(codes)  # sorted, (K,)

    def _code(self, anchor: Tensor, rel: Tensor, answer: Tensor) -> Tensor:
        return (anchor * (2 * self.num_relations) + rel) * self.num_nodes + answer

    def to(self, device: torch.device | str) -> FilterIndex:
        self.codes = self.codes.to(device)
        return self

    def contains(self, anchor: Tensor, rel: Tensor, answer: Tensor) -> Tensor:
        """(B,) bool: is ``answer`` a known answer of ``(anchor, rel)``?"""
        code = self._code(anchor, rel, answer).to(self.codes.device)
        pos = torch.searchsorted(self.codes, code).clamp(max=max(len(self.codes) - 1, 0))
        return (self.codes[pos] == code) if len(self.codes) else torch.zeros_like(code).bool()

    def mask(self, anchor: Tensor, rel: Tensor) -> Tensor:
        """(B, N) bool: the known answers of each query."""
        device = anchor.device
        codes = self.codes.to(device)
        start_code = self._code(anchor, rel, torch.zeros_like(anchor))
        start = torch.searchsorted(codes, start_code)
        end = torch.searchsorted(codes, start_code + self.num_nodes)
        counts = end - start  # (B,)
        rows = torch.repeat_interleave(torch.arange(len(anchor), device=device), counts)
        # position of each answer inside the flat code vector: start of its query + 0, 1, ...
        first = torch.repeat_interleave(start - (counts.cumsum(0) - counts), counts)
        cols = codes[first + torch.arange(len(rows), device=device)] % self.num_nodes
        out = torch.zeros(len(anchor), self.num_nodes, dtype=torch.bool, device=device)
        out[rows, cols] = True
        return out


def filtered_ranks(scores: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Realistic filtered rank of each target: (B, N), (B,), (B, N) bool -> (B,) float."""
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN; a rank would be meaningless")
    rows = torch.arange(len(target), device=scores.device)
    target_score = scores[rows, target].unsqueeze(1)  # (B, 1)
    candidate = ~known
    candidate[rows, target] = False  # the target is counted separately below
    higher = ((scores > target_score) & candidate).sum(1)
    tied = ((scores == target_score) & candidate).sum(1)
    return 1.0 + higher.double() + tied.double() / 2.0


def query_batch(triples: Tensor, num_relations: int) -> tuple[Tensor, Tensor, Tensor]:
    """Tail and head queries of (B, 3) triples: anchor, rel, target, each (2B,)."""
    h, r, t = triples.unbind(1)
    return torch.cat([h, t]), torch.cat([r, r + num_relations]), torch.cat([t, h])


def rank_triples(score_fn: ScoreFn, triples: Tensor, filter_index: FilterIndex,
                 allowed: Tensor | None = None) -> Tensor:
    """Filtered ranks of a batch (B, 3): (2B,), tail queries first, then head queries.

    ``allowed`` (2R, N) bool restricts each query relation's candidates (e.g.
    to the node types it takes); the target itself is always ranked.
    """
    anchor, rel, target = query_batch(triples, filter_index.num_relations)
    scores = score_fn(anchor, rel)  # (2B, N)
    excluded = filter_index.mask(anchor, rel)
    if allowed is not None:
        excluded |= ~allowed.to(excluded.device)[rel]
    return filtered_ranks(scores, target, excluded)


def ranking_metrics(ranks: Tensor) -> dict[str, float]:
    """MRR and Hits@1/3/10 of a vector of ranks (empty -> NaN)."""
    ranks = ranks.double()
    out = {"mrr": float((1.0 / ranks).mean()) if len(ranks) else float("nan")}
    for k in HITS_AT:
        out[f"hits@{k}"] = float((ranks <= k).double().mean()) if len(ranks) else float("nan")
    out["count"] = len(ranks)
    return out


@dataclass
class RankingReport:
    ranks: Tensor  # (Q,) realistic filtered ranks
    relation: Tensor  # (Q,) in [0, R)
    head: Tensor  # (Q,) True for head prediction
    relation_names: list[str]

    def metrics(self, direction: str = "both", relation: int | None = None) -> dict[str, float]:
        keep = torch.ones_like(self.head)
        if direction == "tail":
            keep = ~self.head
        elif direction == "head":
            keep = self.head.clone()
        elif direction != "both":
            raise ValueError(f"direction must be 'both', 'tail' or 'head', got {direction!r}")
        if relation is not None:
            keep &= self.relation == relation
        return ranking_metrics(self.ranks[keep])

    @property
    def mrr(self) -> float:
        return self.metrics()["mrr"]

    def to_dict(self) -> dict:
        directions = ("both", "tail", "head")
        return {
            **{d: self.metrics(d) for d in directions},
            "per_relation": {name: {d: self.metrics(d, k) for d in directions}
                             for k, name in enumerate(self.relation_names)
                             if bool((self.relation == k).any())},
        }


@torch.no_grad()
def evaluate_ranking(score_fn: ScoreFn, triples: Tensor, filter_index: FilterIndex,
                     relation_names: list[str] | None = None, batch_size: int = 256,
                     allowed: Tensor | None = None) -> RankingReport:
    """Filtered ranking of ``triples`` (E, 3) in both directions, ``batch_size`` at a time
    (``allowed``: see :func:`rank_triples`)."""
    num_rel = filter_index.num_relations
    ranks, rels, heads = [], [], []
    for batch in triples.split(batch_size):
        ranks.append(rank_triples(score_fn, batch, filter_index, allowed).cpu())
        rels.append(batch[:, 1].repeat(2).cpu())
        heads.append(torch.arange(2 * len(batch)) >= len(batch))
    names = relation_names or [str(k) for k in range(num_rel)]
    return RankingReport(_cat(ranks, torch.double), _cat(rels, torch.long),
                         _cat(heads, torch.bool), names)


def _cat(parts: list[Tensor], dtype: torch.dtype) -> Tensor:
    return torch.cat(parts) if parts else torch.empty(0, dtype=dtype)


# ---- binary classification: is (h, r, t) a true triple? ----------------------------------

def binary_metrics(positive: Tensor, negative: Tensor) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of scores for true and false triples, by
    scikit-learn (``roc_auc_score``: ties count 1/2; ``average_precision_score``: one
    threshold per distinct score, so tied scores are never split in a favourable order).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("AUROC/AUPRC need at least one positive and one negative score")
    scores = torch.cat([positive, negative]).detach().double().cpu().numpy()
    labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))]).numpy()
    return {"auroc": float(roc_auc_score(labels, scores)),
            "auprc": float(average_precision_score(labels, scores))}
