"""The relational VGAE: sampling, the KL term, proposals and their calibration."""

from __future__ import annotations

import pytest
import torch

from kg.models import MODELS, LinkPredictorConfig, RelationalVGAE, gaussian_kl

from ..linkpred.toy import random_edges

N, R, D = 10, 2, 8


def vgae(**kw) -> RelationalVGAE:
    torch.manual_seed(0)
    config = LinkPredictorConfig(num_nodes=N, num_relations=R, dim=D, encoder="rgcn",
                                 encoder_options={"dropout": 0.0}, **kw)
    return MODELS.build("vgae", config)


def test_training_samples_and_evaluation_uses_the_mean():
    model = vgae()
    edges = random_edges(N, R, 20)
    a, b = model.embed(*edges), model.embed(*edges)
    assert not torch.equal(a.nodes, b.nodes)  # reparameterised samples
    assert a.kl is not None and a.kl > 0
    model.eval()
    mu, _, _ = model.posterior(*edges)
    torch.testing.assert_close(model.embed(*edges).nodes, mu)
    assert model.sample(*edges, num_samples=3).shape == (3, N, D)


def test_kl_term_matches_torch_distributions():
    mu, logvar = torch.randn(5, 3, dtype=torch.double), torch.randn(5, 3, dtype=torch.double)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)) == 0


def test_the_kl_gradient_reaches_the_encoder():
    model = vgae()
    emb = model.embed(*random_edges(N, R, 20))
    emb.kl.backward()
    assert model.encoder.embedding.weight.grad.abs().sum() > 0


def test_proposals_skip_known_links_wrong_types_and_the_head_itself():
    model = vgae(decoder="distmult").eval()
    emb = model.embed(*random_edges(N, R, 20))
    known = torch.tensor([[0, 1, 5], [0, 1, 6], [1, 0, 7]])  # (h, r, t)
    allowed = torch.ones(N, dtype=torch.bool)
    allowed[[8, 9]] = False
    heads = torch.tensor([0, 1])
    prop = model.propose(emb, relation=1, heads=heads, k=4, allowed_tails=allowed, known=known)
    assert len(prop.heads) == 8 and set(prop.heads.tolist()) == {0, 1}
    pairs = set(zip(prop.heads.tolist(), prop.tails.tolist(), strict=True))
    assert not pairs & {(0, 5), (0, 6), (0, 0), (1, 1)}
    assert not {t for _, t in pairs} & {8, 9}
    for h in (0, 1):
        mine = prop.scores[prop.heads == h]
        assert torch.all(mine[:-1] >= mine[1:])  # best first
        best = model.score(emb, torch.tensor([h]), torch.tensor([1]),
                           prop.tails[prop.heads == h][:1])
        torch.testing.assert_close(mine[:1], best)
    torch.testing.assert_close(prop.probabilities, torch.sigmoid(prop.scores))
    with pytest.raises(ValueError, match="relation 2"):
        model.propose(emb, relation=2, heads=heads)


def test_fewer_candidates_than_k_gives_fewer_proposals():
    model = vgae().eval()
    emb = model.embed(*random_edges(N, R, 20))
    allowed = torch.zeros(N, dtype=torch.bool)
    allowed[[3, 4]] = True
    prop = model.propose(emb, relation=0, heads=torch.tensor([0]), k=5, allowed_tails=allowed)
    assert sorted(prop.tails.tolist()) == [3, 4]


def test_calibration_recovers_a_known_logistic_link():
    # scores whose true probability of being a link is sigmoid(2 s - 1)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(20000, generator=g) * 2
    label = torch.rand(20000, generator=g) < torch.sigmoid(2 * s - 1)
    model = vgae()
    a, b = model.calibrate(s[label], s[~label]).tolist()
    assert a == pytest.approx(2.0, abs=0.15) and b == pytest.approx(-1.0, abs=0.15)
    torch.testing.assert_close(model.probability(torch.tensor([0.5])),
                               torch.sigmoid(torch.tensor([a * 0.5 + b])))
    assert "calibration" in model.state_dict()  # saved with the checkpoint
