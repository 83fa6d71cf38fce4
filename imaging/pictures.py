"""Pictures of image sets: sample grids and nearest-neighbour pairs, saved as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def grid(images: np.ndarray, columns: int, *, pad: int = 2, value: int = 255) -> np.ndarray:
    """uint8 images (N, H, W) tiled row by row into one uint8 picture, ``pad`` pixels of
    ``value`` between tiles; a short last row is padded with blank tiles."""
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected a non-empty (N, H, W) array, got {images.shape}")
    n, height, width = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad), value,
                     np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top:top + height, left:left + width] = image
    return canvas


def save_png(picture: np.ndarray, path: Path, *, scale: int = 1) -> Path:
    """Write a uint8 grey picture, each pixel ``scale`` x ``scale`` (nearest) for viewing."""
    from PIL import Image

    if scale > 1:
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path, optimize=True)
    return path


def class_grids(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                out_dir: Path, *, prefix: str, per_class: int = 64, columns: int = 8,
                scale: int = 2) -> list[Path]:
    """One grid of up to ``per_class`` images per class: ``<prefix>-<class>.png``."""
    paths = []
    for cls, name in enumerate(class_names):
        members = images[labels == cls][:per_class]
        if len(members):
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
            paths.append(save_png(grid(members, columns), Path(out_dir) / f"{prefix}-{safe}.png",
                                  scale=scale))
    return paths


def pairs_picture(left: np.ndarray, right: np.ndarray, path: Path, *, scale: int = 2) -> Path:
    """Pairs side by side, one pair a row: ``left[i]`` | ``right[i]`` (e.g. a generated
    image and its nearest training image)."""
    if left.shape != right.shape:
        raise ValueError(f"pairs need equal shapes, got {left.shape} and {right.shape}")
    interleaved = np.stack([left, right], axis=1).reshape(-1, *left.shape[1:])
    return save_png(grid(interleaved, 2), path, scale=scale)
