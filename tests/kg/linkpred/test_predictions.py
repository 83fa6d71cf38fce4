"""Top-k predictions: never a known triple, ranked from 1 per head."""

from __future__ import annotations

import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.linkpred.predictions import predict_links
from tests.kg import phenotype_toy as toy
from training import seed_everything


def test_predicted_links_skip_known_triples_and_rank_from_one():
    graph = TripleGraph.from_export(toy.export(), seed=0, holdout_relations=["ASSOCIATED_WITH"])
    seed_everything(0)
    task = LinkPredictionTask(LinkPredictionConfig(dim=8, decoder="complex", reciprocal=True),
                              graph)
    with torch.no_grad():
        groups = predict_links(task, graph, task.embed(), "ASSOCIATED_WITH", 3)
    assert list(groups) == [("Gene", "Disease")]
    rows = groups["Gene", "Disease"]
    known = {(a, b) for a, bs in toy.GENE_DISEASES.items() for b in bs}
    assert not {(a, b) for a, b in zip(rows["start"], rows["end"], strict=True)} & known
    assert rows.groupby("start")["rank"].apply(list).tolist() == [[1, 2, 3]] * 8
    assert ((rows["score"] > 0) & (rows["score"] < 1)).all()
