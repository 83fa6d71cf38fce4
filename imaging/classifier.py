"""A small CNN classifier for the usefulness test: train on one set of images (generated
or real), score the real test split, compare ROC AUCs (train-synthetic-test-real)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn


@dataclass
class ClassifierConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    channels: int = 32
    seed: int = 0


class SmallCNN(nn.Module):
    """(batch, 1, R, R) images in [0, 1] -> (batch, classes) logits."""

    def __init__(self, num_classes: int, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
            nn.Linear(2 * channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int,
                     config: ClassifierConfig | None = None) -> SmallCNN:
    """Fit :class:`SmallCNN` on uint8 images (N, R, R) with Adam and cross-entropy,
    classes weighted by inverse frequency (the benchmark sets are imbalanced)."""
    config = config or ClassifierConfig()
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = SmallCNN(num_classes, config.channels)
    x, y = _tensor(images), torch.from_numpy(labels.astype(np.int64))
    counts = torch.bincount(y, minlength=num_classes).float().clamp(min=1)
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (num_classes * counts))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


@torch.inference_mode()
def predict_proba(model: SmallCNN, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    x = _tensor(images)
    return torch.cat([model(x[i:i + batch_size]).softmax(dim=1)
                      for i in range(0, len(x), batch_size)]).numpy()


def auc(labels: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC: of class 1 for two classes, else one-vs-rest macro (sklearn)."""
    if proba.shape[1] == 2:
        return float(roc_auc_score(labels, proba[:, 1]))
    return float(roc_auc_score(labels, proba, multi_class="ovr", average="macro",
                               labels=np.arange(proba.shape[1])))


def train_and_score(train_images: np.ndarray, train_labels: np.ndarray,
                    test_images: np.ndarray, test_labels: np.ndarray, num_classes: int,
                    config: ClassifierConfig | None = None) -> float:
    """Test ROC AUC of the classifier trained on (train_images, train_labels)."""
    model = train_classifier(train_images, train_labels, num_classes, config)
    return auc(test_labels, predict_proba(model, test_images))
