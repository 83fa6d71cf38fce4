"""Link prediction: the dataset and its splits, type-constrained negatives, the
Lightning task and filtered-ranking evaluation."""

from kg.linkpred.dataset import TripleGraph
from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.evaluation import (
    FilterIndex,
    RankingReport,
    binary_metrics,
    evaluate_ranking,
    filtered_ranks,
    ranking_metrics,
)
from kg.linkpred.negatives import TypeConstrainedSampler
from kg.linkpred.splits import split_triples
from kg.linkpred.task import LinkPredictionConfig, LinkPredictionTask

__all__ = [
    "FilterIndex", "LinkPredictionConfig", "LinkPredictionError", "LinkPredictionTask",
    "RankingReport", "TripleGraph", "TypeConstrainedSampler", "binary_metrics",
    "evaluate_ranking", "filtered_ranks", "ranking_metrics", "split_triples",
]
