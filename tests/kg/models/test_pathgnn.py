"""The path model (NBFNet / A*Net family): shapes, gradients, pruned against dense
propagation, hiding a batch's triples, the link predictor's scoring paths, and a toy
graph whose held-out links follow a 2-hop rule that it learns and a shallow model
does not."""

from __future__ import annotations

import pytest
import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.models import ENCODERS, LinkPredictor, LinkPredictorConfig
from kg.models.pathgnn import NBFNetConfig, NBFNetEncoder, PathGraph, _top_per_group
from training import TrainConfig, fit, seed_everything

from ..linkpred.toy import random_edges, rule_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

N, R, D = 12, 3, 8
# the registry meta-test (test_registry.py) counts these as the path encoders' cases
CASES = {"nbfnet": [{}, {"aggregation": "pna"}, {"node_limit": 3, "edge_limit": 6}]}
PARAMS = [(name, opts) for name, options in CASES.items() for opts in options]


def build(opts: dict, seed: int = 0, **sizes) -> NBFNetEncoder:
    torch.manual_seed(seed)
    sizes = {"num_nodes": N, "num_relations": R, "dim": D, **sizes}
    return ENCODERS.build("nbfnet", {"num_layers": 3, **opts}, **sizes)


def queries() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([0, 3, 5, 5, 11]), torch.tensor([0, 1, 4, 2, 5])


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_scores_every_node_of_every_query_and_every_parameter_learns(name, opts):
    enc = build(opts)
    graph = enc.graph(*random_edges(N, R, 40), N)
    anchor, rel = queries()
    scores = enc(graph, anchor, rel)
    assert scores.shape == (len(anchor), N) and torch.isfinite(scores).all()
    (scores * torch.randn_like(scores)).sum().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("aggregation", ["sum", "pna"])
def test_pruned_propagation_equals_dense_when_the_limits_keep_everything(aggregation):
    edges = random_edges(N, R, 40)
    dense = build({"aggregation": aggregation}).double()
    pruned = build({"aggregation": aggregation, "node_limit": N, "edge_limit": 80}).double()
    pruned.load_state_dict(dense.state_dict())
    graph = dense.graph(*edges, N)
    anchor, rel = queries()
    weight = torch.rand(graph.num_directed_edges, dtype=torch.double)
    torch.testing.assert_close(pruned(graph, anchor, rel, weight),
                               dense(graph, anchor, rel, weight))
    # and pruning does prune: one sender per layer reaches fewer nodes, other scores
    tight = build({"aggregation": aggregation, "node_limit": 1}).double()
    tight.load_state_dict(dense.state_dict())
    assert len(tight.propagate(graph, anchor, rel)[0]) < len(dense.propagate(graph, anchor,
                                                                            rel)[0])
    assert not torch.allclose(tight(graph, anchor, rel), dense(graph, anchor, rel))


def test_a_node_no_path_reaches_scores_as_the_query_alone():
    enc = build({})
    # two components: 0-1-2 and 3-4; a query from 0 reaches nothing of the second
    edge_index = torch.tensor([[0, 1, 3], [1, 2, 4]])
    graph = enc.graph(edge_index, torch.tensor([0, 1, 2]), 5)
    scores = enc(graph, torch.tensor([0]), torch.tensor([1]))
    assert scores[0, 3] == scores[0, 4]
    assert scores[0, 1] != scores[0, 3] and scores[0, 2] != scores[0, 3]


def test_edge_weights_scale_messages():
    enc = build({}).double()
    graph = enc.graph(*random_edges(N, R, 40), N)
    anchor, rel = queries()
    full = enc(graph, anchor, rel)
    weight = torch.ones(graph.num_directed_edges, dtype=torch.double)
    torch.testing.assert_close(enc(graph, anchor, rel, weight), full)
    weight[graph.eid[graph.rowptr[0]:graph.rowptr[1]]] = 0.0  # node 0 sends nothing
    assert not torch.allclose(enc(graph, anchor, rel, weight)[0], full[0])


def test_hiding_triples_removes_both_directions_and_only_them():
    edge_index = torch.tensor([[0, 1, 1], [1, 2, 0]])
    graph = PathGraph.build(edge_index, torch.tensor([0, 1, 0]), 3, 2)
    assert len(graph.dst) == 6
    hidden = graph.hide(torch.tensor([[0, 0, 1]]))  # fact 0 -r0-> 1 and 1 -r2(inv)-> 0
    assert len(hidden.dst) == 4
    kept = {(int(s), int(r), int(t)) for s, r, t in zip(
        torch.repeat_interleave(torch.arange(3), hidden.rowptr.diff()), hidden.rel,
        hidden.dst, strict=True)}
    assert kept == {(1, 1, 2), (2, 3, 1), (1, 0, 0), (0, 2, 1)}


def test_top_per_group_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    group = torch.randint(0, 4, (30,), generator=g)
    score = torch.rand(30, generator=g)
    for k in (1, 3, 30):
        got = set(_top_per_group(group, score, k).tolist())
        slow = set()
        for q in range(4):
            idx = (group == q).nonzero().squeeze(1)
            slow |= set(idx[score[idx].argsort(descending=True)[:k]].tolist())
        assert got == slow


@pytest.mark.parametrize(("bad", "match"), [
    ({"num_layers": 0}, "num_layers"),
    ({"aggregation": "median"}, "aggregation"),
    ({"node_limit": 0}, "node_limit"),
    ({"edge_limit": 5}, "needs a node_limit"),
    ({"dropout": 1.0}, "dropout"),
])
def test_bad_arguments_fail_in_init(bad, match):
    with pytest.raises(ValueError, match=match):
        ENCODERS.build("nbfnet", bad, num_nodes=N, num_relations=R, dim=D)


def test_reset_parameters_reinitialises():
    enc = build({})
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.reset_parameters()
    assert all(not torch.equal(v, before[k]) for k, v in enc.state_dict().items()
               if k.endswith("weight") and "norm" not in k)
    assert isinstance(enc.config, NBFNetConfig) and "node_limit=None" in repr(enc)


def test_the_link_predictor_scores_triples_and_queries_alike_with_no_decoder(monkeypatch):
    torch.manual_seed(0)
    model = LinkPredictor(LinkPredictorConfig(N, R, D, encoder="nbfnet",
                                              encoder_options={"num_layers": 2}))
    assert model.decoder is None and model.relation is None
    emb = model.embed(*random_edges(N, R, 40))
    assert emb.nodes.shape == (N, 0) and emb.relations.shape == (2 * R, D)
    h, r, t = torch.tensor([0, 0, 4, 7]), torch.tensor([1, 1, 5, 0]), torch.tensor([2, 9, 1, 0])
    rows = model.score_queries(emb, h, r)
    torch.testing.assert_close(model.score(emb, h, r, t), rows[torch.arange(4), t])
    # a few queries at a time (memory), in any order, give the same scores
    monkeypatch.setattr("kg.models.link_predictor.QUERY_CHUNK", 1)
    torch.testing.assert_close(model.score_queries(emb, h, r), rows)
    torch.testing.assert_close(model.score(emb, h.flip(0), r.flip(0), t.flip(0)),
                               rows[torch.arange(4), t].flip(0))
    proposals = model.propose(emb, 1, torch.tensor([0, 3]), k=4)
    assert len(proposals.heads) == 8 and (proposals.heads != proposals.tails).all()
    # a graph with more nodes than at training (inductive); a shallow model refuses it
    assert model.embed(*random_edges(N + 3, R, 40), num_nodes=N + 3).nodes.shape == (N + 3, 0)
    shallow = LinkPredictor(LinkPredictorConfig(N, R, D))
    with pytest.raises(ValueError, match="trained nodes only"):
        shallow.embed(*random_edges(N + 3, R, 40), num_nodes=N + 3)
    with pytest.raises(ValueError, match="one vector per node"):
        LinkPredictor.__subclasses__()[0](LinkPredictorConfig(N, R, D, encoder="nbfnet"))
    with pytest.raises(ValueError, match="without num_neighbors"):
        LinkPredictionConfig(encoder="nbfnet", loss="bce", num_neighbors=[5])


# ---- a rule only paths can carry --------------------------------------------------------

def train_on(graph: TripleGraph, tmp_path, epochs: int, **model) -> LinkPredictionTask:
    seed_everything(0)
    task = LinkPredictionTask(LinkPredictionConfig(loss="ce", label_smoothing=0.0,
                                                   batch_size=32, eval_batch_size=64, **model),
                              graph)
    fit(task, None, TrainConfig(max_epochs=epochs, log_dir=str(tmp_path), run_name="run",
                                progress_bar=False, num_sanity_val_steps=0,
                                log_every_n_steps=1))
    return task


@pytest.mark.slow
def test_the_path_model_learns_a_two_hop_rule_that_a_shallow_model_misses(tmp_path):
    graph = rule_graph()
    path = train_on(graph, tmp_path / "path", 40, encoder="nbfnet", dim=16, lr=0.01,
                    encoder_options={"num_layers": 2, "node_limit": 20, "edge_limit": 40})
    shallow = train_on(graph, tmp_path / "shallow", 40, decoder="complex", dim=32, lr=0.05)
    # tail queries (x, pq, ?) are what the rule answers (heads by its inverse)
    got = path.evaluate("test").metrics("tail")["mrr"]
    baseline = shallow.evaluate("test").metrics("tail")["mrr"]
    assert got > 0.8 and got > baseline + 0.2, (got, baseline)
