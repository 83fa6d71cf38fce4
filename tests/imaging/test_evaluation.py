"""One evaluation end to end with cheap stand-in features (the Inception network itself
is tested in test_metrics): sizes and class proportions are matched, a generator that
copies training images is caught as memorising, and the goals say met / not met."""

from __future__ import annotations

import numpy as np
import pytest

from imaging import metrics
from imaging.classifier import ClassifierConfig
from imaging.data import ImageSet
from imaging.evaluation import EvaluationConfig, evaluate, goals


def pixel_features(images: np.ndarray, **kwargs) -> np.ndarray:
    out = np.zeros((len(images), metrics.FEATURE_DIM), np.float32)
    out[:, :28 * 28] = images.reshape(len(images), -1) / 255.0
    return out


@pytest.fixture
def image_set() -> ImageSet:
    rng = np.random.default_rng(0)

    def split(n):
        labels = np.arange(n) % 3 % 2  # two classes, 2:1
        images = rng.integers(0, 80, (n, 28, 28)).astype(np.uint8)
        images[labels == 1, 6:22, 6:22] += 120
        return images, labels

    (tr, trl), (te, tel) = split(60), split(30)
    return ImageSet("toy", "memory", tr, trl, te, tel, ["a", "b"])


def test_a_copying_generator_is_caught(image_set, monkeypatch, tmp_path):
    monkeypatch.setattr(metrics, "extract_features", pixel_features)
    requested = []

    def copier(labels: np.ndarray, seed: int) -> np.ndarray:
        requested.append(labels)
        # a training image of the asked class for each label: a memorising generator
        pools = {c: image_set.train_images[image_set.train_labels == c] for c in (0, 1)}
        return np.stack([pools[c][i % len(pools[c])] for i, c in enumerate(labels)])

    report = evaluate(copier, image_set, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out",
                      config=EvaluationConfig(max_compare=40, kid_subsets=5,
                                              classifier=ClassifierConfig(epochs=2, channels=4)))
    assert report["sizes"]["generated"] == report["sizes"]["train_sample"] == 40
    assert report["generated_classes"] == [27, 13]  # the test split's 2:1, at 40 images
    assert np.bincount(requested[1]).tolist() == [40, 20]  # TSTR set: the training split's
    assert report["memorised_share_pixels"]["share"] == 1.0
    assert report["memorised_share"] == 1.0
    assert report["fid_ratio"] is not None and report["fid_floor_train_vs_test"] > 0
    assert 0 <= report["tstr_auc"] <= 1 and 0 <= report["real_auc"] <= 1
    checked = goals(report)
    assert checked["memorised_share_at_most_2pct"]["met"] is False
    assert (tmp_path / "out" / "nearest-train-pairs.png").exists()
    assert sorted(p.name for p in (tmp_path / "out").glob("generated-*.png")) == [
        "generated-a.png", "generated-b.png"]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # train sample and test
