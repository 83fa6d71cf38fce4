"""Sample grids and pair pictures."""

from __future__ import annotations

import numpy as np
from PIL import Image

from imaging.pictures import class_grids, grid, pairs_picture


def test_grid_layout():
    images = np.stack([np.full((4, 4), i, np.uint8) for i in range(5)])
    picture = grid(images, 3, pad=1)
    assert picture.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert picture[1, 1] == 0 and picture[1, 6] == 1 and picture[6, 1] == 3
    assert picture[6, 11] == 255  # the missing sixth tile stays blank


def test_class_grids_and_pairs_are_pngs(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1, 1, 0])
    paths = class_grids(images, labels, ["benign", "mal/ignant"], tmp_path, prefix="g",
                        scale=1)
    assert [p.name for p in paths] == ["g-benign.png", "g-mal_ignant.png"]
    pair = pairs_picture(images[:2], images[2:4], tmp_path / "pairs.png", scale=1)
    with Image.open(pair) as opened:
        assert opened.size == (2 * 10 + 2, 2 * 10 + 2)
