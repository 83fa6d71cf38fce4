"""Type-constrained negatives: right types, one side corrupted, reproducible."""

from __future__ import annotations

import torch

from kg.linkpred import TypeConstrainedSampler
from kg.linkpred.negatives import observed_types

from .toy import toy_graph


def sampler_for(graph, constrained=True) -> TypeConstrainedSampler:
    return TypeConstrainedSampler(graph.train, graph.node_type, graph.num_relations,
                                  len(graph.node_types), constrained=constrained)


def test_domain_and_range_are_read_from_training_triples():
    graph = toy_graph()
    domain, range_ = observed_types(graph.train, graph.node_type, 3, 2)
    # ASSOCIATED_WITH: Gene -> Disease; INTERACTS_WITH: Gene -> Gene; SIMILAR_TO: Disease
    assert domain.tolist() == [[False, True], [False, True], [True, False]]
    assert range_.tolist() == [[True, False], [False, True], [True, False]]


def test_negatives_keep_the_relations_types_and_change_one_side():
    graph = toy_graph()
    sampler = sampler_for(graph)
    pos = graph.train
    neg = sampler(pos, 16, torch.Generator().manual_seed(0))  # (E, 16, 3)
    assert neg.shape == (len(pos), 16, 3)
    same_rel = neg[..., 1] == pos[:, None, 1]
    assert same_rel.all()
    head_kept = neg[..., 0] == pos[:, None, 0]
    tail_kept = neg[..., 2] == pos[:, None, 2]
    assert (head_kept | tail_kept).all()
    domain, range_ = sampler.domain, sampler.range
    r = neg[..., 1]
    assert domain[r, graph.node_type[neg[..., 0]]].all()
    assert range_[r, graph.node_type[neg[..., 2]]].all()
    # about half of the negatives corrupt the tail
    assert 0.4 < float((~tail_kept).double().mean()) < 0.6


def test_every_allowed_node_is_drawn():
    graph = toy_graph()
    sampler = sampler_for(graph)
    pos = graph.train[graph.train[:, 1] == 0]  # gene -> disease
    neg = sampler(pos, 200, torch.Generator().manual_seed(0))
    tails = neg[..., 2][neg[..., 2] != pos[:, None, 2]].unique()
    assert torch.equal(tails, sampler.allowed(0, "tail").nonzero().squeeze(1))
    assert sampler.allowed(0, "tail").sum() == 24 and sampler.allowed(0, "head").sum() == 24


def test_same_generator_same_negatives():
    graph = toy_graph()
    sampler = sampler_for(graph)
    a = sampler(graph.train, 4, torch.Generator().manual_seed(3))
    b = sampler(graph.train, 4, torch.Generator().manual_seed(3))
    c = sampler(graph.train, 4, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unconstrained_sampling_and_unseen_relations_use_every_node():
    graph = toy_graph()
    free = sampler_for(graph, constrained=False)
    neg = free(graph.train, 64, torch.Generator().manual_seed(0))
    assert set(graph.node_type[neg[..., 2]].flatten().tolist()) == {0, 1}
    only_one = TypeConstrainedSampler(graph.train[graph.train[:, 1] == 0], graph.node_type, 3)
    assert only_one.allowed(2, "head").all()  # relation 2 never seen: no constraint
