"""What a trained path model gives besides ranks: the paths behind a prediction
(kg.linkpred.explain) and predictions for nodes added after training
(kg.linkpred.inductive), against the shallow mean-of-neighbours baseline."""

from __future__ import annotations

import pytest
import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.evaluation import FilterIndex, evaluate_ranking
from kg.linkpred.explain import explain_paths
from kg.linkpred.inductive import current_embeddings, inductive_score_fn, predict_partners
from training import TrainConfig, fit, seed_everything

from .toy import rule_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

NEW = 6  # nodes removed before training and added back after


class Split:
    """The rule graph without NEW of its nodes (re-indexed), and the graph with them
    back: their p and q links as given support, their pq links as the queries."""

    def __init__(self):
        full = rule_graph()
        self.node_ids = full.node_ids
        new = torch.arange(NEW) * 5  # spread over the ids
        every = full.all_triples()
        touches = torch.isin(every[:, 0], new) | torch.isin(every[:, 2], new)
        self.queries = every[touches & (every[:, 1] == 1)]
        self.now = torch.cat([every[~touches & torch.isin(every, full.train).all(1)],
                              every[touches & (every[:, 1] != 1)]])
        self.every = every
        keep = ~torch.isin(torch.arange(full.num_nodes), new)
        old_of = torch.full((full.num_nodes,), -1, dtype=torch.long)
        old_of[keep] = torch.arange(int(keep.sum()))

        def local(t: torch.Tensor) -> torch.Tensor:
            t = t[~(torch.isin(t[:, 0], new) | torch.isin(t[:, 2], new))]
            return torch.stack([old_of[t[:, 0]], t[:, 1], old_of[t[:, 2]]], 1)

        self.train = TripleGraph([n for n, k in zip(full.node_ids, keep.tolist(), strict=True)
                                  if k], torch.zeros(int(keep.sum()), dtype=torch.long),
                                 ["Entity"], full.relations, local(full.train),
                                 local(full.valid), local(full.test))
        self.num_relations = full.num_relations


def train_on(graph: TripleGraph, tmp_path, **model) -> LinkPredictionTask:
    seed_everything(0)
    task = LinkPredictionTask(LinkPredictionConfig(loss="ce", label_smoothing=0.0,
                                                   batch_size=32, eval_batch_size=64, **model),
                              graph)
    fit(task, None, TrainConfig(max_epochs=40, log_dir=str(tmp_path), run_name="run",
                                progress_bar=False, num_sanity_val_steps=0,
                                log_every_n_steps=1))
    return task.eval()


@pytest.fixture(scope="module")
def split() -> Split:
    return Split()


@pytest.fixture(scope="module")
def path_task(split, tmp_path_factory) -> LinkPredictionTask:
    return train_on(split.train, tmp_path_factory.mktemp("path"), encoder="nbfnet", dim=16,
                    lr=0.01, encoder_options={"num_layers": 2, "node_limit": 20,
                                              "edge_limit": 40})


@pytest.fixture(scope="module")
def shallow_task(split, tmp_path_factory) -> LinkPredictionTask:
    return train_on(split.train, tmp_path_factory.mktemp("shallow"), decoder="complex",
                    dim=32, lr=0.05)


def inductive_mrr(task: LinkPredictionTask, split: Split, direction: str = "tail") -> float:
    score_fn = inductive_score_fn(task, split.node_ids, split.now)
    report = evaluate_ranking(score_fn, split.queries,
                              FilterIndex(split.every, len(split.node_ids), split.num_relations))
    return report.metrics(direction)["mrr"]


@pytest.mark.slow
def test_new_nodes_get_rule_predictions_from_paths_not_from_mean_embeddings(
        split, path_task, shallow_task):
    got, baseline = inductive_mrr(path_task, split), inductive_mrr(shallow_task, split)
    assert got > 0.6 and got > baseline + 0.2, (got, baseline)


def test_the_shallow_baseline_gives_a_new_node_its_neighbours_mean(split, shallow_task):
    emb, new = current_embeddings(shallow_task, split.node_ids, split.now)
    assert int(new.sum()) == NEW
    trained = shallow_task.embed().nodes
    index = {n: i for i, n in enumerate(split.train.node_ids)}
    node = 5  # new
    ends = split.now[(split.now[:, 0] == node) | (split.now[:, 2] == node)]
    others = [int(t) if int(h) == node else int(h) for h, _, t in ends.tolist()]
    known = [index[split.node_ids[o]] for o in others if not new[o]]
    torch.testing.assert_close(emb.nodes[node], trained[known].mean(0))
    assert torch.equal(emb.nodes[1], trained[index["n1"]])


def test_predict_partners_ranks_new_nodes_and_skips_known_links(split, path_task):
    node = "n0"  # new; its pq partners are p(n0)'s q partners
    partners = predict_partners(path_task, split.node_ids, split.now, node, "pq", k=3)
    assert [p.rank for p in partners] == [1, 2, 3]
    assert all(a.score >= b.score for a, b in zip(partners, partners[1:], strict=False))
    truth = {split.node_ids[int(t)] for t in split.queries[split.queries[:, 0] == 0][:, 2]}
    assert partners[0].node in truth
    # a link that exists now is never proposed, nor the node itself
    p_partner = split.node_ids[int(split.now[(split.now[:, 0] == 0) & (split.now[:, 1] == 0),
                                             2][0])]
    proposed = {p.node for p in predict_partners(path_task, split.node_ids, split.now, node,
                                                 "p", k=len(split.node_ids))}
    assert p_partner not in proposed and node not in proposed
    heads = predict_partners(path_task, split.node_ids, split.now, partners[0].node, "pq",
                             k=40, as_tail=True)
    assert node in {p.node for p in heads}
    with pytest.raises(LinkPredictionError, match="unknown node"):
        predict_partners(path_task, split.node_ids, split.now, "n999", "pq")


def test_explanations_follow_the_rule_and_are_paths_of_the_graph(split, path_task):
    graph = split.train
    emb = path_task.embed()
    h, r, t = graph.test[0].tolist()  # a pq link
    paths = explain_paths(path_task.model, emb, h, r, t, k=3)
    assert paths and paths[0].nodes[0] == h and paths[0].nodes[-1] == t
    assert paths[0].relations == [0, 2]  # -p-> then -q->: the rule
    facts = {tuple(x) for x in graph.train.tolist()}
    R = graph.num_relations
    for p in paths:
        assert p.weight == pytest.approx(sum(p.edge_weights))
        for a, rel, b in zip(p.nodes, p.relations, p.nodes[1:], strict=False):
            assert ((a, rel, b) if rel < R else (b, rel - R, a)) in facts
    assert all(a.weight >= b.weight for a, b in zip(paths, paths[1:], strict=False))
    text = paths[0].text(graph.node_ids, graph.relations)
    assert text.startswith(graph.node_ids[h]) and "-[p]->" in text and "-[q]->" in text


def test_explanations_need_a_path_model(shallow_task):
    with pytest.raises(LinkPredictionError, match="need a path model"):
        explain_paths(shallow_task.model, shallow_task.embed(), 0, 1, 2)
