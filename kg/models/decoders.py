"""Triple scoring functions: higher score = more plausible ``(h, r, t)``.

Every decoder takes relation *vectors* of the same width as the node
vectors, so a relation can come from the model's own table or from an
encoder that learns relation embeddings (CompGCN); a decoder reads the
vector its own way (a diagonal, a complex number, a rotation). Three entry
points, all vectorised:

- ``score(h, r, t)``: (B, d) x3 -> (B,)
- ``score_tails(h, r, candidates)``: (B, d), (B, d), (N, d) -> (B, N), every tail at once
- ``score_heads(candidates, r, t)``: the same for every head, exactly (no inverse relation)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from kg.models.registry import Registry


@dataclass
class DecoderConfig:
    dim: int = 128

    def check(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be positive, got {self.dim}")


class Decoder(nn.Module):
    config: DecoderConfig

    def __init__(self, config: DecoderConfig):
        super().__init__()
        config.check()
        self.config = config

    def reset_parameters(self) -> None:
        """Decoders without parameters have nothing to reset."""

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def score_tails(self, h: Tensor, r: Tensor, candidates: Tensor) -> Tensor:
        raise NotImplementedError

    def score_heads(self, candidates: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"dim={self.config.dim}"


DECODERS: Registry[Decoder] = Registry("decoder")


def _complex(x: Tensor) -> tuple[Tensor, Tensor]:
    # (..., d) -> real and imaginary halves (..., d/2)
    k = x.size(-1) // 2
    return x[..., :k], x[..., k:]


def _even(config: DecoderConfig, name: str) -> None:
    config.check()
    if config.dim % 2:
        raise ValueError(f"{name} reads vectors as complex numbers: dim must be even, "
                         f"got {config.dim}")


@DECODERS.register("distmult", DecoderConfig)
class DistMult(Decoder):
    """<h, r, t> (Yang et al. 2015): symmetric in h and t."""

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(-1)

    def score_tails(self, h: Tensor, r: Tensor, candidates: Tensor) -> Tensor:
        return (h * r) @ candidates.T

    def score_heads(self, candidates: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (r * t) @ candidates.T


@DECODERS.register("complex", DecoderConfig)
class ComplEx(Decoder):
    """Re(<h, r, conj(t)>) over C^(d/2) (Trouillon et al. 2016): models asymmetric relations."""

    def __init__(self, config: DecoderConfig):
        _even(config, "ComplEx")
        super().__init__(config)

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (self._hr(h, r) * t).sum(-1)

    def score_tails(self, h: Tensor, r: Tensor, candidates: Tensor) -> Tensor:
        return self._hr(h, r) @ candidates.T

    def score_heads(self, candidates: Tensor, r: Tensor, t: Tensor) -> Tensor:
        # Re(h * b) with b = r * conj(t) is <[Re h, Im h], [Re b, -Im b]>
        (rr, ri), (tr, ti) = _complex(r), _complex(t)
        b = torch.cat([rr * tr + ri * ti, -(ri * tr - rr * ti)], dim=-1)  # (B, d)
        return b @ candidates.T

    @staticmethod
    def _hr(h: Tensor, r: Tensor) -> Tensor:
        # h * r as a complex product; Re(<h r, conj t>) is then a real dot product with t
        (hr, hi), (rr, ri) = _complex(h), _complex(r)
        return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], dim=-1)


@dataclass
class RotatEConfig(DecoderConfig):
    margin: float = 6.0  # initial offset: score = margin - distance; learnt, sets the logit scale


@DECODERS.register("rotate", RotatEConfig)
class RotatE(Decoder):
    """margin - ||h o r - t|| with r a rotation in C^(d/2) (Sun et al. 2019).

    The relation vector is read as a complex number per dimension and scaled
    to modulus 1, which is a rotation by its phase. The distance is the L2
    norm of the complex difference (as PyKEEN's RotatE), which lets all
    candidates be scored with one ``cdist`` instead of a (B, N, d) tensor.
    """

    config: RotatEConfig

    def __init__(self, config: RotatEConfig):
        _even(config, "RotatE")
        super().__init__(config)
        self.margin = nn.Parameter(torch.tensor(float(config.margin)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.margin, float(self.config.margin))

    @staticmethod
    def _rotation(r: Tensor) -> tuple[Tensor, Tensor]:
        re, im = _complex(r)
        modulus = torch.sqrt(re * re + im * im).clamp(min=1e-9)
        return re / modulus, im / modulus

    def _rotate(self, x: Tensor, r: Tensor, inverse: bool = False) -> Tensor:
        (xr, xi), (rr, ri) = _complex(x), self._rotation(r)
        if inverse:  # multiply by conj(r), which undoes the rotation
            ri = -ri
        return torch.cat([xr * rr - xi * ri, xr * ri + xi * rr], dim=-1)

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.margin - torch.linalg.vector_norm(self._rotate(h, r) - t, dim=-1)

    def score_tails(self, h: Tensor, r: Tensor, candidates: Tensor) -> Tensor:
        return self.margin - torch.cdist(self._rotate(h, r), candidates)

    def score_heads(self, candidates: Tensor, r: Tensor, t: Tensor) -> Tensor:
        # |r| = 1, so ||c o r - t|| = ||c - t o conj(r)||
        return self.margin - torch.cdist(self._rotate(t, r, inverse=True), candidates)

    def extra_repr(self) -> str:
        return f"dim={self.config.dim}, margin={self.config.margin}"
