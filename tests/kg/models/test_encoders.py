"""Encoders: shapes, gradients everywhere, equivariance, reset, bad arguments, and
CompGCN's layer against a slow per-edge implementation."""

from __future__ import annotations

import pytest
import torch

from kg.models import ENCODERS, CompGCNConfig, EncoderConfig, RGCNConfig
from kg.models.compgcn import CompGCNConv, circular_correlation, compose
from kg.models.encoders import Subgraph, with_inverse

from ..linkpred.toy import random_edges

N, R, D = 12, 3, 8

# One entry per registered encoder (the registry meta-test checks this), with its options.
CASES = {
    "none": [{}],
    "rgcn": [{"num_bases": 2}, {"num_bases": None, "num_layers": 1}, {"fast": True}],
    "compgcn": [{"composition": c} for c in ("sub", "mult", "corr")],
}
PARAMS = [(name, opts) for name, options in CASES.items() for opts in options]


def build(name: str, opts: dict, seed: int = 0):
    torch.manual_seed(seed)
    return ENCODERS.build(name, {"dropout": 0.0, **opts} if name != "none" else opts,
                          num_nodes=N, num_relations=R, dim=D)


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_shapes_and_relation_vectors(name, opts):
    enc = build(name, opts)
    out = enc(*random_edges(N, R, 30))
    assert out.nodes.shape == (N, D)
    if enc.learns_relations:
        assert out.relations.shape == (2 * R, D)
    else:
        assert out.relations is None


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_every_parameter_gets_a_gradient(name, opts):
    # an unused parameter would stall DDP's gradient all-reduce
    enc = build(name, opts)
    out = enc(*random_edges(N, R, 40))
    loss = out.nodes.pow(2).sum() + (out.relations.pow(2).sum() if out.relations is not None
                                     else 0)
    loss.backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_relabelling_nodes_permutes_the_output(name, opts):
    enc = build(name, opts).eval()
    edge_index, edge_type = random_edges(N, R, 30)
    out = enc(edge_index, edge_type).nodes.detach().clone()  # "none" returns its weight
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    inverse = torch.argsort(perm)  # new id of old node i is inverse[i]
    with torch.no_grad():
        enc.embedding.weight.copy_(enc.embedding.weight[perm])
    relabelled = enc(inverse[edge_index], edge_type).nodes
    torch.testing.assert_close(relabelled, out[perm], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_a_subgraph_of_the_whole_graph_gives_its_seed_rows(name, opts):
    # the whole graph handed over as a "sampled" subgraph, nodes relabelled: the seeds'
    # rows come out as in the full pass (the sampler itself: tests/kg/linkpred/test_sampling)
    enc = build(name, opts).eval()
    edge_index, edge_type = random_edges(N, R, 30)
    full = enc(edge_index, edge_type).nodes
    nodes = torch.randperm(N, generator=torch.Generator().manual_seed(2))
    local = torch.argsort(nodes)  # local id of global node i
    ei, et = with_inverse(local[edge_index], edge_type, R)
    degree = torch.stack([torch.bincount(ei[1][et < R], minlength=N),
                          torch.bincount(ei[1][et >= R], minlength=N)], 1)  # by local id
    out = enc.forward_subgraph(Subgraph(nodes, 5, ei, et, degree))
    torch.testing.assert_close(out.nodes, full[nodes[:5]])


@pytest.mark.parametrize(("name", "opts"), [p for p in PARAMS if p[0] != "none"])
def test_message_passing_uses_the_edges(name, opts):
    enc = build(name, opts).eval()
    edge_index, edge_type = random_edges(N, R, 30)
    a = enc(edge_index, edge_type).nodes
    b = enc(edge_index[:, :20], edge_type[:20]).nodes
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(("name", "opts"), PARAMS)
def test_reset_parameters_reinitialises(name, opts):
    enc = build(name, opts)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.reset_parameters()
    changed = [k for k, v in enc.state_dict().items() if not torch.equal(v, before[k])]
    assert "embedding.weight" in changed


@pytest.mark.parametrize(("name", "bad", "match"), [
    ("rgcn", {"num_bases": 7}, "num_bases"),  # more bases than 2R = 6 relation types
    ("rgcn", {"num_bases": 0}, "num_bases"),
    ("rgcn", {"num_layers": 0}, "num_layers"),
    ("rgcn", {"dropout": 1.0}, "dropout"),
    ("compgcn", {"composition": "add"}, "composition"),
    ("compgcn", {"num_layers": 0}, "num_layers"),
    ("none", {"dim": 0}, "positive"),
])
def test_bad_combinations_fail_in_init(name, bad, match):
    sizes = {"num_nodes": N, "num_relations": R, "dim": D}
    sizes.update({k: bad.pop(k) for k in list(bad) if k in sizes})
    with pytest.raises(ValueError, match=match):
        ENCODERS.build(name, bad, **sizes)


def test_configs_are_the_registered_dataclasses():
    assert ENCODERS.get("none").config_cls is EncoderConfig
    assert ENCODERS.get("rgcn").config_cls is RGCNConfig
    assert ENCODERS.get("compgcn").config_cls is CompGCNConfig
    assert ENCODERS.config("rgcn", {"num_bases": 3}, num_nodes=5, num_relations=2, dim=4) == \
        RGCNConfig(num_nodes=5, num_relations=2, dim=4, num_bases=3)


def test_circular_correlation_matches_its_definition():
    a, b = torch.randn(4, 7, dtype=torch.double), torch.randn(4, 7, dtype=torch.double)
    slow = torch.zeros(4, 7, dtype=torch.double)
    for k in range(7):
        for i in range(7):
            slow[:, k] += a[:, i] * b[:, (i + k) % 7]
    torch.testing.assert_close(circular_correlation(a, b), slow)


@pytest.mark.parametrize("composition", ["sub", "mult", "corr"])
def test_compgcn_layer_equals_a_per_edge_loop(composition):
    torch.manual_seed(0)
    n, r, d = 6, 2, 4
    conv = CompGCNConv(d, 5, r, composition).double().eval()
    x = torch.randn(n, d, dtype=torch.double)
    rel = torch.randn(2 * r, d, dtype=torch.double)
    edge_index, edge_type = random_edges(n, r, 9, seed=3)
    out, rel_out = conv(x, *with_inverse(edge_index, edge_type, r), rel)

    def deg(targets):
        return [max(sum(1 for v in targets if v == u), 1) for u in range(n)]

    src, dst = edge_index.tolist()
    deg_in, deg_out = deg(dst), deg(src)  # in-degree of the forward and the inverse graph
    slow = torch.zeros(n, 5, dtype=torch.double)
    for s, t, k in zip(src, dst, edge_type.tolist(), strict=True):
        # forward message s -> t, inverse message t -> s with relation k + R
        slow[t] += compose(x[s], rel[k], composition) @ conv.w_in / (deg_in[s] * deg_in[t]) ** .5
        slow[s] += (compose(x[t], rel[k + r], composition) @ conv.w_out
                    / (deg_out[t] * deg_out[s]) ** .5)
    for v in range(n):
        slow[v] += compose(x[v], conv.loop_rel[0], composition) @ conv.w_loop
    slow = torch.tanh(slow / 3 + conv.bias)
    torch.testing.assert_close(out, slow)
    torch.testing.assert_close(rel_out, rel @ conv.w_rel)
    assert "CompGCNConv(4, 5" in repr(conv)
