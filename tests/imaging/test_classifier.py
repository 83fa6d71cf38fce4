"""The usefulness classifier: it learns a separable task, and its AUC is sklearn's."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.classifier import ClassifierConfig, auc, train_and_score


def separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    images[labels == 1, 8:20, 8:20] += 150  # class 1 has a bright square
    return images, labels


def test_learns_a_separable_task():
    train, train_labels = separable(64, 0)
    test, test_labels = separable(32, 1)
    score = train_and_score(train, train_labels, test, test_labels, 2,
                            ClassifierConfig(epochs=5, channels=4))
    assert score > 0.95


def test_auc_binary_and_multiclass():
    assert auc(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]])) == 1.0
    three = np.eye(3)[[0, 1, 2, 0]]
    assert auc(np.array([0, 1, 2, 0]), three) == pytest.approx(1.0)
