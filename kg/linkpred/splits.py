"""Seeded train/valid/test splits of a triple set."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from kg.linkpred.errors import LinkPredictionError


def sort_triples(triples: Tensor) -> Tensor:
    """Triples (E, 3) in (head, relation, tail) order, so a split reads the same every time."""
    if len(triples) == 0:
        return triples
    order = np.lexsort(triples.T.flip(0).numpy())  # lexsort's last key is the primary one
    return triples[torch.from_numpy(order)]


def split_triples(triples: Tensor, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  seed: int = 0, holdout: Tensor | None = None
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Split (E, 3) triples into train / valid / test by ``fractions``, reproducibly.

    Only triples where ``holdout`` (E,) is True may leave the training set
    (default: all), e.g. to hold out 10% of gene-disease links and keep
    every other relation for training. The split is transductive: a valid or
    test triple whose head or tail never occurs in a training triple goes
    back to training, since a node without training edges has only its
    random initial embedding. The fractions therefore hold for the
    eligible triples before that correction.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise LinkPredictionError(f"fractions must be three non-negative numbers summing to 1, "
                                  f"got {fractions}")
    if fractions[0] == 0:
        raise LinkPredictionError("the training fraction must be positive")
    eligible = torch.ones(len(triples), dtype=torch.bool) if holdout is None else holdout.bool()
    candidates = eligible.nonzero().squeeze(1)
    perm = candidates[torch.randperm(len(candidates),
                                     generator=torch.Generator().manual_seed(seed))]
    n_valid = round(fractions[1] * len(candidates))
    n_test = round(fractions[2] * len(candidates))
    part = torch.zeros(len(triples), dtype=torch.long)  # 0 train, 1 valid, 2 test
    part[perm[:n_valid]] = 1
    part[perm[n_valid:n_valid + n_test]] = 2

    train = triples[part == 0]
    seen = torch.zeros(int(triples[:, [0, 2]].max()) + 1 if len(triples) else 0,
                       dtype=torch.bool)
    seen[train[:, 0]] = True
    seen[train[:, 2]] = True
    unseen = (part > 0) & ~(seen[triples[:, 0]] & seen[triples[:, 2]])
    part[unseen] = 0
    return tuple(sort_triples(triples[part == k]) for k in range(3))  # type: ignore[return-value]
