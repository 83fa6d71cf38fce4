"""Decoders: the 1-N paths equal scoring triple by triple, and each formula
equals its textbook form in complex arithmetic."""

from __future__ import annotations

import pytest
import torch

from kg.models import DECODERS, ComplEx, DistMult, RotatE

D = 6

# One entry per registered decoder (the registry meta-test checks this).
CASES = {"distmult": {}, "complex": {}, "rotate": {"margin": 2.0}}


def vectors(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, D, dtype=torch.double,
                       generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_tails_and_all_heads_equal_one_by_one_scoring(name):
    dec = DECODERS.build(name, CASES[name], dim=D).double()
    h, r, t, cand = vectors(5, seed=1), vectors(5, seed=2), vectors(5, seed=3), vectors(7)
    tails = dec.score_tails(h, r, cand)
    heads = dec.score_heads(cand, r, t)
    assert tails.shape == heads.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            torch.testing.assert_close(tails[i, j], dec.score(h[i:i + 1], r[i:i + 1],
                                                              cand[j:j + 1])[0])
            torch.testing.assert_close(heads[i, j], dec.score(cand[j:j + 1], r[i:i + 1],
                                                              t[i:i + 1])[0])


def as_complex(x: torch.Tensor) -> torch.Tensor:
    k = x.size(-1) // 2
    return torch.complex(x[..., :k], x[..., k:])


def test_distmult_is_a_trilinear_product_and_symmetric():
    dec = DistMult(DECODERS.config("distmult", dim=D))
    h, r, t = vectors(4, seed=1), vectors(4, seed=2), vectors(4, seed=3)
    torch.testing.assert_close(dec.score(h, r, t), torch.einsum("bd,bd,bd->b", h, r, t))
    torch.testing.assert_close(dec.score(h, r, t), dec.score(t, r, h))


def test_complex_is_re_of_h_r_conj_t_and_can_be_asymmetric():
    dec = ComplEx(DECODERS.config("complex", dim=D))
    h, r, t = vectors(4, seed=1), vectors(4, seed=2), vectors(4, seed=3)
    expected = (as_complex(h) * as_complex(r) * as_complex(t).conj()).sum(-1).real
    torch.testing.assert_close(dec.score(h, r, t), expected)
    assert not torch.allclose(dec.score(h, r, t), dec.score(t, r, h))


def test_rotate_is_margin_minus_distance_after_a_unit_rotation():
    dec = RotatE(DECODERS.config("rotate", {"margin": 2.0}, dim=D)).double()
    h, r, t = vectors(4, seed=1), vectors(4, seed=2), vectors(4, seed=3)
    rot = as_complex(r) / as_complex(r).abs()
    expected = 2.0 - torch.linalg.vector_norm(as_complex(h) * rot - as_complex(t), dim=-1)
    torch.testing.assert_close(dec.score(h, r, t), expected)
    # a rotation keeps lengths: only the relation's phase matters
    torch.testing.assert_close(dec.score(h, 3 * r, t), dec.score(h, r, t))


@pytest.mark.parametrize("name", ["complex", "rotate"])
def test_complex_decoders_need_an_even_dimension(name):
    with pytest.raises(ValueError, match="even"):
        DECODERS.build(name, dim=5)


def test_decoder_options_cannot_override_the_model_size():
    with pytest.raises(ValueError, match="set by the model"):
        DECODERS.build("distmult", {"dim": 3}, dim=4)
    with pytest.raises(ValueError, match="unknown decoder 'transe'"):
        DECODERS.build("transe", dim=4)


def test_rotate_margin_is_learnt_and_reset():
    dec = RotatE(DECODERS.config("rotate", {"margin": 2.0}, dim=D))
    with torch.no_grad():
        dec.margin.add_(1.0)
    dec.reset_parameters()
    assert dec.margin.detach().item() == 2.0
    assert "margin=2.0" in repr(dec)
