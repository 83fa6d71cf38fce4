"""Neighbour-sampled training: subgraphs that reproduce the full-graph encoder when
every neighbour is kept, fan-outs that cut, batches in local ids, a sampled training
run whose checkpoint evaluates full-graph, and the errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionError, LinkPredictionTask
from kg.linkpred.negatives import TypeConstrainedSampler
from kg.linkpred.sampling import BUILD_SCRIPT, NeighbourBatches
from kg.models import ENCODERS
from training import fit, seed_everything

from .test_task import random_mrr, task_config, train_config
from .toy import random_edges, toy_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")


def needs_backend() -> None:
    pytest.importorskip("torch_sparse")


def batches(edge_index, edge_type, num_nodes, num_relations, num_neighbors
            ) -> NeighbourBatches:
    train = torch.stack([edge_index[0], edge_type, edge_index[1]], 1)
    node_type = torch.zeros(num_nodes, dtype=torch.long)
    return NeighbourBatches(edge_index, edge_type, num_nodes, num_relations, num_neighbors,
                            TypeConstrainedSampler(train, node_type, num_relations), 4)


@pytest.mark.parametrize("name", ["rgcn", "compgcn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_all_neighbours_give_the_full_graph_embeddings_of_the_seeds(name, layers):
    needs_backend()
    n, r = 60, 3
    edge_index, edge_type = random_edges(n, r, 70, seed=1)  # sparse: subgraphs stay partial
    torch.manual_seed(0)
    enc = ENCODERS.build(name, {"dropout": 0.0, "num_layers": layers}, num_nodes=n,
                         num_relations=r, dim=8).eval()
    full = enc(edge_index, edge_type).nodes
    sampler = batches(edge_index, edge_type, n, r, [-1] * layers)
    seeds = torch.tensor([3, 17, 41])
    sub = sampler.subgraph(seeds)
    assert len(sub.nodes) < n  # a real part of the graph, not all of it
    torch.testing.assert_close(enc.forward_subgraph(sub).nodes, full[seeds])
    if layers > 1:  # one hop too few leaves the seeds' second neighbourhood out
        short = enc.forward_subgraph(batches(edge_index, edge_type, n, r, [-1]).subgraph(seeds))
        assert not torch.allclose(short.nodes, full[seeds])


def test_subgraphs_follow_edges_both_ways_and_fan_outs_cut():
    needs_backend()
    # a star: leaves 1..20 point at the hub 0 with relation 0 (R = 2)
    leaves = torch.arange(1, 21)
    edge_index = torch.stack([leaves, torch.zeros_like(leaves)])
    edge_type = torch.zeros(20, dtype=torch.long)
    hub = torch.tensor([0])
    assert batches(edge_index, edge_type, 21, 2, [-1]).subgraph(hub).edge_index.size(1) == 20
    cut = batches(edge_index, edge_type, 21, 2, [3]).subgraph(hub)
    assert cut.edge_index.size(1) == 3 and len(cut.nodes) == 4
    assert cut.edge_type.tolist() == [0, 0, 0]
    assert cut.degree[0].tolist() == [20, 0]  # the hub's true in-degrees, forward / inverse
    # a leaf has no in-edges of its own: it reaches the hub through the inverse edge (0 + R)
    leaf = batches(edge_index, edge_type, 21, 2, [-1]).subgraph(torch.tensor([5]))
    assert leaf.nodes.tolist() == [5, 0] and leaf.edge_type.tolist() == [2]
    assert leaf.edge_index.tolist() == [[1], [0]]  # local ids: hub -> leaf


def test_a_batch_holds_its_triples_and_type_kept_negatives_in_local_ids():
    needs_backend()
    graph = toy_graph()
    task = LinkPredictionTask(task_config(encoder="rgcn", loss="softplus", num_negatives=5,
                                          num_neighbors=[4, 4], batch_size=16), graph)
    batch = next(iter(task.train_dataloader()))
    nodes = batch.subgraph.nodes
    positives = batch.positives.clone()
    positives[:, [0, 2]] = nodes[positives[:, [0, 2]]]
    train = {tuple(t) for t in graph.train.tolist()}
    assert len(positives) == 16 and all(tuple(t) in train for t in positives.tolist())
    assert batch.negatives.shape == (16, 5, 3)
    assert int(batch.negatives[..., [0, 2]].max()) < batch.subgraph.num_seeds
    negatives = batch.negatives.reshape(-1, 3)
    heads, rels, tails = nodes[negatives[:, 0]], negatives[:, 1], nodes[negatives[:, 2]]
    assert torch.equal(rels, batch.positives[:, 1].repeat_interleave(5))
    for h, r, t in zip(heads.tolist(), rels.tolist(), tails.tolist(), strict=True):
        assert task.sampler.allowed(r, "head")[h] and task.sampler.allowed(r, "tail")[t]


@pytest.mark.parametrize(("model", "encoder", "decoder", "loss"), [
    ("kge", "rgcn", "distmult", "bce"),
    ("kge", "compgcn", "complex", "softplus"),
    ("vgae", "rgcn", "distmult", "softplus"),
], ids=["rgcn-bce", "compgcn-softplus", "vgae-rgcn"])
def test_sampled_training_learns_and_its_checkpoint_evaluates_full_graph(
        tmp_path, model, encoder, decoder, loss):
    needs_backend()
    graph = toy_graph()
    seed_everything(0)
    task = LinkPredictionTask(task_config(model=model, encoder=encoder, decoder=decoder,
                                          loss=loss, num_negatives=8, batch_size=128,
                                          num_neighbors=[5, 5]), graph)
    result = fit(task, None, train_config(tmp_path, max_epochs=25))
    report = task.evaluate("test")
    baseline = random_mrr(graph, task)
    assert report.mrr > 2 * baseline, (report.mrr, baseline)
    back = LinkPredictionTask.load_from_checkpoint(result.last_checkpoint).attach(graph)
    assert back.config.num_neighbors == [5, 5]
    assert back.evaluate("test").to_dict() == task.evaluate("test").to_dict()


@pytest.mark.parametrize("bad", [[0], [10, -2], [], "10,10", [10, "x"], [True], [2.5]])
def test_bad_fan_outs(bad):
    with pytest.raises(ValueError, match="num_neighbors must be a non-empty list"):
        LinkPredictionConfig(loss="softplus", num_neighbors=bad)


def test_sampling_needs_a_sampled_loss():
    with pytest.raises(ValueError, match="num_neighbors needs a sampled loss.*every node"):
        LinkPredictionConfig(loss="ce", num_neighbors=[10, 10])


def test_a_missing_backend_names_the_build_script(monkeypatch):
    import torch_geometric.typing

    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", False)
    graph = toy_graph()
    config = task_config(encoder="rgcn", loss="softplus", num_neighbors=[10, 10])
    with pytest.raises(LinkPredictionError, match=BUILD_SCRIPT):
        LinkPredictionTask(config, graph)
    # the model of a sampled run (as from its checkpoint) still evaluates full-graph
    saved = dataclasses.replace(config, num_nodes=graph.num_nodes,
                                relations=list(graph.relations))
    task = LinkPredictionTask(saved).attach(graph)
    assert task.evaluate("test").mrr > 0
    with pytest.raises(LinkPredictionError, match=BUILD_SCRIPT):
        task.train_dataloader()
