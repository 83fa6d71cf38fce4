"""Filtered ranking and AUROC/AUPRC, vectorised, against slow obvious loops."""

from __future__ import annotations

import pytest
import torch

from kg.linkpred import FilterIndex, binary_metrics, evaluate_ranking, filtered_ranks
from kg.linkpred.evaluation import ranking_metrics


def random_graph(seed: int, n: int = 9, r: int = 3, e: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    triples = torch.stack([torch.randint(0, n, (e,), generator=g),
                           torch.randint(0, r, (e,), generator=g),
                           torch.randint(0, n, (e,), generator=g)], dim=1)
    return triples.unique(dim=0)


def slow_ranks(scores: dict, test: list, known: set, n: int) -> list[float]:
    """Loop over every candidate of every query; head queries read scores[(h, r, t)] too."""
    ranks = []
    for h, r, t in test:  # tail prediction first, like the vectorised order
        ranks.append(_rank(lambda e, h=h, r=r: scores[(h, r, e)], t,
                           [e for e in range(n) if e == t or (h, r, e) not in known]))
    for h, r, t in test:
        ranks.append(_rank(lambda e, r=r, t=t: scores[(e, r, t)], h,
                           [e for e in range(n) if e == h or (e, r, t) not in known]))
    return ranks


def _rank(score, target, candidates) -> float:
    higher = sum(1 for e in candidates if e != target and score(e) > score(target))
    tied = sum(1 for e in candidates if e != target and score(e) == score(target))
    return 1 + higher + tied / 2


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_filtered_ranks_equal_the_slow_loop(seed):
    n, r = 9, 3
    triples = random_graph(seed, n, r)
    test = triples[::3]
    g = torch.Generator().manual_seed(100 + seed)
    # few distinct values, so ties are common; table[h, r, t]
    table = torch.randint(0, 4, (n, r, n), generator=g).double()
    scores = {(h, k, t): float(table[h, k, t]) for h in range(n) for k in range(r)
              for t in range(n)}

    def score_fn(anchor, rel):  # rel >= r asks for heads: (?, rel - r, anchor)
        out = torch.empty(len(anchor), n, dtype=torch.double)
        fwd = rel < r
        out[fwd] = table[anchor[fwd], rel[fwd]]
        out[~fwd] = table[:, rel[~fwd] - r, anchor[~fwd]].T
        return out

    index = FilterIndex(triples, n, r)
    report = evaluate_ranking(score_fn, test, index, batch_size=4)
    expected = slow_ranks(scores, test.tolist(), set(map(tuple, triples.tolist())), n)
    # the report keeps batch order; rebuild tail-then-head order for the whole set
    tail = report.ranks[~report.head]
    head = report.ranks[report.head]
    assert torch.cat([tail, head]).tolist() == expected
    assert report.metrics("tail")["count"] == len(test)


@pytest.mark.parametrize("seed", range(4))
def test_filter_mask_and_contains_equal_set_lookups(seed):
    n, r = 9, 3
    triples = random_graph(seed, n, r)
    known = set(map(tuple, triples.tolist()))
    index = FilterIndex(triples, n, r)
    anchor = torch.arange(n).repeat_interleave(2 * r)
    rel = torch.arange(2 * r).repeat(n)
    mask = index.mask(anchor, rel)
    for i, (a, k) in enumerate(zip(anchor.tolist(), rel.tolist(), strict=True)):
        for e in range(n):
            fact = (a, k, e) if k < r else (e, k - r, a)
            assert bool(mask[i, e]) == (fact in known)
    h, k, t = triples.unbind(1)
    assert index.contains(h, k, t).all() and index.contains(t, k + r, h).all()
    absent = torch.tensor([(a, k, e) for a in range(n) for k in range(r) for e in range(n)
                           if (a, k, e) not in known])
    assert not index.contains(*absent.unbind(1)).any()


def test_ties_count_as_the_mean_of_optimistic_and_pessimistic_rank():
    scores = torch.tensor([[5.0, 5.0, 5.0, 1.0, 9.0]])
    known = torch.tensor([[False, False, False, False, True]])  # node 4 is another answer
    # target 0: node 4 is filtered out, nodes 1 and 2 tie with it -> rank (1 + 3) / 2
    assert filtered_ranks(scores, torch.tensor([0]), known).tolist() == [2.0]
    assert filtered_ranks(scores, torch.tensor([3]), known).tolist() == [4.0]
    with pytest.raises(ValueError, match="NaN"):
        filtered_ranks(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]),
                       torch.zeros(1, 2, dtype=torch.bool))


def test_ranking_metrics_by_hand():
    m = ranking_metrics(torch.tensor([1.0, 2.0, 4.0, 20.0]))
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 20) / 4)
    assert (m["hits@1"], m["hits@3"], m["hits@10"], m["count"]) == (0.25, 0.5, 0.75, 4)


def test_report_splits_by_direction_and_relation():
    n, r = 9, 3
    triples = random_graph(0, n, r)
    report = evaluate_ranking(lambda a, k: torch.zeros(len(a), n), triples,
                              FilterIndex(triples, n, r), relation_names=["a", "b", "c"])
    d = report.to_dict()
    assert set(d) == {"both", "tail", "head", "per_relation"}
    assert d["both"]["count"] == 2 * len(triples) == d["tail"]["count"] + d["head"]["count"]
    assert sum(v["both"]["count"] for v in d["per_relation"].values()) == d["both"]["count"]
    with pytest.raises(ValueError, match="direction"):
        report.metrics("sideways")


def slow_auroc(pos: list, neg: list) -> float:
    return sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg) / (
        len(pos) * len(neg))


def slow_average_precision(pos: list, neg: list) -> float:
    """Sum over distinct thresholds, high to low, of recall gained x precision there."""
    total, ap = len(pos), 0.0
    for threshold in sorted(set(pos + neg), reverse=True):
        tp = sum(1 for p in pos if p >= threshold)
        fp = sum(1 for q in neg if q >= threshold)
        new = sum(1 for p in pos if p == threshold)
        ap += new / total * tp / (tp + fp)
    return ap


@pytest.mark.parametrize("seed", range(5))
def test_auroc_and_auprc_equal_slow_definitions(seed):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 6, (17,), generator=g).double() + 1  # shifted up, many ties
    neg = torch.randint(0, 6, (23,), generator=g).double()
    got = binary_metrics(pos, neg)
    assert got["auroc"] == pytest.approx(slow_auroc(pos.tolist(), neg.tolist()))
    assert got["auprc"] == pytest.approx(slow_average_precision(pos.tolist(), neg.tolist()))


def test_auroc_and_auprc_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(50, generator=g) + 1, torch.randn(80, generator=g)
    pos[:5] = neg[:5]  # some exact ties across classes
    y = [1] * 50 + [0] * 80
    s = torch.cat([pos, neg]).tolist()
    got = binary_metrics(pos, neg)
    assert got["auroc"] == pytest.approx(metrics.roc_auc_score(y, s))
    assert got["auprc"] == pytest.approx(metrics.average_precision_score(y, s))


def test_binary_metrics_edge_cases():
    assert binary_metrics(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == {
        "auroc": 1.0, "auprc": 1.0}
    assert binary_metrics(torch.ones(3), torch.ones(5))["auroc"] == 0.5
    with pytest.raises(ValueError, match="at least one"):
        binary_metrics(torch.ones(3), torch.empty(0))
