"""One evaluation of a generator on an image set: realism beside the real floor,
memorisation, usefulness, and the pictures that go with them.

The generator is given as a sampler, ``sampler(labels, seed) -> uint8 (N, R, R)``, so
this module needs no checkpoint (the CLI and the benchmark pass
``GANTask.sample`` wrapped). Sizes are matched: the generated set compared with the
test split has as many images as the training images in the floor, FID(train, test),
and the class proportions of the test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaging import metrics
from imaging.classifier import ClassifierConfig, train_and_score
from imaging.data import ImageSet
from imaging.pictures import class_grids, pairs_picture

Sampler = Callable[[np.ndarray, int], np.ndarray]
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class EvaluationConfig:
    # Images per set in FID / KID and the memorisation features; the generated set and
    # the training sample of the floor both have this many (fewer when the training split
    # is smaller). Inception on a CPU costs about 0.3 s an image, so large sets are capped.
    max_compare: int = 1000
    kid_subset_size: int = 1000  # capped at the smallest set
    kid_subsets: int = 100
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    pairs: int = 8  # closest generated-train pairs in the picture
    grid_per_class: int = 64
    seed: int = 0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def evaluate(sampler: Sampler, image_set: ImageSet, *, config: EvaluationConfig | None = None,
             cache_dir: Path | None = None, out_dir: Path | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Figures of the generator against ``image_set`` (and pictures in ``out_dir``)."""
    config = config or EvaluationConfig()
    started = time.monotonic()
    seed = config.seed
    n_classes = image_set.num_classes

    def step(what: str, total: int) -> Callable[[int], None]:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(what, done[0], total)
        return advance

    train_idx = metrics.subsample(len(image_set.train_images), config.max_compare, seed)
    test_idx = metrics.subsample(len(image_set.test_images), config.max_compare, seed)
    train_images = image_set.train_images[train_idx]
    test_images, test_labels = image_set.test_images[test_idx], image_set.test_labels[test_idx]
    key = image_set.fingerprint()
    train_features = metrics.cached_features(
        train_images, f"{key}-train-{len(train_idx)}-{seed}", cache_dir,
        progress=step("Inception features: training images", len(train_images)))
    test_features = metrics.cached_features(
        test_images, f"{key}-test-{len(test_idx)}-{seed}", cache_dir,
        progress=step("Inception features: test images", len(test_images)))

    n_generated = len(train_images)
    generated_labels = metrics.matched_labels(test_labels, n_generated, n_classes, seed)
    generated = sampler(generated_labels, seed)
    generated_features = metrics.extract_features(
        generated, progress=step("Inception features: generated images", n_generated))
    features_seconds = time.monotonic() - started

    kid_size = min(config.kid_subset_size, n_generated, len(test_images))
    fid_generated = metrics.fid(test_features, generated_features)
    fid_floor = metrics.fid(test_features, train_features)
    kid_generated = metrics.kid(test_features, generated_features, subset_size=kid_size,
                                subsets=config.kid_subsets, seed=seed)
    kid_floor = metrics.kid(test_features, train_features, subset_size=kid_size,
                            subsets=config.kid_subsets, seed=seed)

    # Memorisation: in Inception space against the training sample whose features exist,
    # in pixel space against every training image.
    in_features = metrics.memorised_share(generated_features, test_features, train_features)
    in_pixels = metrics.memorised_share(metrics.pixels(generated), metrics.pixels(test_images),
                                        metrics.pixels(image_set.train_images))

    # Usefulness: the classifier trained on as many generated images as there are real
    # training images, with the training split's classes, then on the real ones.
    tstr_labels = np.random.default_rng(seed + 1).permutation(image_set.train_labels)
    tstr_images = sampler(tstr_labels, seed + 1)
    classifier_started = time.monotonic()
    tstr_auc = train_and_score(tstr_images, tstr_labels, image_set.test_images,
                               image_set.test_labels, n_classes, config.classifier)
    real_auc = train_and_score(image_set.train_images, image_set.train_labels,
                               image_set.test_images, image_set.test_labels, n_classes,
                               config.classifier)
    classifier_seconds = time.monotonic() - classifier_started

    pictures: dict[str, Any] = {}
    if out_dir is not None:
        out_dir = Path(out_dir)
        grid_labels = np.repeat(np.arange(n_classes), config.grid_per_class)
        grid_images = sampler(grid_labels, seed + 2)
        pictures["generated_grids"] = [str(p) for p in class_grids(
            grid_images, grid_labels, image_set.class_names, out_dir, prefix="generated",
            per_class=config.grid_per_class)]
        pictures["real_grids"] = [str(p) for p in class_grids(
            image_set.train_images, image_set.train_labels, image_set.class_names, out_dir,
            prefix="real-train", per_class=config.grid_per_class)]
        closest = np.argsort(in_pixels["distances"], kind="stable")[:config.pairs]
        pictures["nearest_pairs"] = str(pairs_picture(
            generated[closest], image_set.train_images[in_pixels["nearest"][closest]],
            out_dir / "nearest-train-pairs.png"))

    def share(report: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in report.items() if k not in ("distances", "nearest")}

    return {
        "data": image_set.name,
        "demo": image_set.demo,
        "sizes": {"generated": n_generated, "train_sample": len(train_images),
                  "train_total": len(image_set.train_images), "test": len(test_images),
                  "kid_subset_size": kid_size, "kid_subsets": config.kid_subsets},
        "generated_classes": np.bincount(generated_labels, minlength=n_classes).tolist(),
        "fid": fid_generated,
        "fid_floor_train_vs_test": fid_floor,
        "fid_ratio": _ratio(fid_generated, fid_floor),
        "kid": {"mean": kid_generated[0], "std": kid_generated[1]},
        "kid_floor_train_vs_test": {"mean": kid_floor[0], "std": kid_floor[1]},
        "memorised_share_inception": share(in_features),
        "memorised_share_pixels": share(in_pixels),
        "memorised_share": max(in_features["share"], in_pixels["share"]),
        "tstr_auc": tstr_auc,
        "real_auc": real_auc,
        "tstr_auc_ratio": _ratio(tstr_auc, real_auc),
        "classifier": {"epochs": config.classifier.epochs, "trained_on_generated":
                       len(tstr_images), "trained_on_real": len(image_set.train_images)},
        "seconds": {"features": features_seconds, "classifiers": classifier_seconds,
                    "total": time.monotonic() - started},
        "pictures": pictures,
    }


GOALS = {"fid_ratio": 1.5, "memorised_share": 0.02, "tstr_auc_ratio": 0.9}


def goals(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's goals, each with its value and whether it is met."""
    ratio, memorised, usefulness = (report["fid_ratio"], report["memorised_share"],
                                    report["tstr_auc_ratio"])
    return {
        "fid_ratio_at_most_1.5": {"value": ratio, "met": ratio is not None and
                                  ratio <= GOALS["fid_ratio"]},
        "memorised_share_at_most_2pct": {"value": memorised,
                                         "met": memorised <= GOALS["memorised_share"]},
        "tstr_auc_at_least_90pct_of_real": {"value": usefulness,
                                            "met": usefulness is not None and
                                            usefulness >= GOALS["tstr_auc_ratio"]},
    }
