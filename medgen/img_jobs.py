"""The imaging GAN as jobs: train a run, sample from it, evaluate it.

A run is one folder under ``<state dir>/imaging/runs`` (``LATEST`` there names the
newest), enough to sample and evaluate without anything else:

    job.json          the job's config, the data set's description and notes, status, result
    checkpoints/      last.ckpt (resume) and best-NNN.ckpt (lowest val_kid), by the engine
    model.ckpt        the checkpoint ``sample`` and ``evaluate`` load (the best, else the last)
    evaluation/       metrics.json and the pictures of ``evaluate``
    csv/, tensorboard/  the engine's logs

Real images' Inception features are cached under ``<state dir>/imaging/features``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from medgen.errors import RunError
from training.checkpoints import load_module
from training.paths import state_dir
from training.quiet import quiet_lightning

JOB_FILE = "job.json"
MODEL_FILE = "model.ckpt"
LATEST_FILE = "LATEST"
EVALUATION_DIR = "evaluation"

Log = Callable[[str], None]


def imaging_dir() -> Path:
    return state_dir() / "imaging"


def runs_dir() -> Path:
    """Where imaging runs live: ``<state dir>/imaging/runs``."""
    return imaging_dir() / "runs"


def features_cache_dir() -> Path:
    return imaging_dir() / "features"


@dataclass
class ImgJobConfig:
    data: str | None = None  # npz, image folder, DICOM or NIfTI path; None: the demo set
    labels_csv: str | None = None
    resolution: int = 28
    max_epochs: int = 200
    max_time_s: float | None = None
    batch_size: int = 32
    channels: int = 32  # generator's last and discriminator's first block (CPU-sized)
    latent_dim: int = 64
    seed: int = 0
    monitor_samples: int = 100  # generated (and real) images in each val_kid
    monitor_every_steps: int = 300  # about this many batches between val_kid checks
    patience: int | None = 5  # val_kid checks without improvement before stopping

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise RunError(f"--epochs must be >= 1, got {self.max_epochs}")
        if self.max_time_s is not None and self.max_time_s <= 0:
            raise RunError(f"--max-time must be positive, got {self.max_time_s}")
        if self.batch_size < 2 or self.monitor_samples < 2:
            raise RunError("batch_size and monitor_samples must be >= 2")


# ---- runs on disk ---------------------------------------------------------------------------

def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_job(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / JOB_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not an imaging run (no {JOB_FILE}); train one with "
                       "`medgen img train`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunError(f"{path} is damaged: {err}") from err


def latest_run() -> Path:
    pointer = runs_dir() / LATEST_FILE
    if not pointer.exists():
        raise RunError("no imaging run yet: train one with `medgen img train`, or pass --run DIR")
    return Path(pointer.read_text(encoding="utf-8").strip())


def resolve_run(run: Path | None) -> Path:
    run_dir = Path(run) if run is not None else latest_run()
    read_job(run_dir)
    if not (run_dir / MODEL_FILE).exists():
        raise RunError(f"{run_dir} has no {MODEL_FILE}: its training did not finish")
    return run_dir


def new_run_id(config: ImgJobConfig) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = Path(config.data).name.split(".")[0] if config.data else "demo"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
    return f"{stamp}-{safe}-{config.resolution}px"


def load_data(config: ImgJobConfig):
    """The job's image set (raises ImageSourceError naming a bad file; writes nothing)."""
    from imaging.data import load_image_set

    try:
        return load_image_set(config.data, config.resolution, labels_csv=config.labels_csv,
                              seed=config.seed)
    except ValueError as err:
        if hasattr(err, "path"):  # ImageSourceError: already names the file
            raise
        raise RunError(str(err)) from err


# ---- training -------------------------------------------------------------------------------

def resume_config(run_dir: Path) -> ImgJobConfig:
    """The settings of an interrupted run, to continue it with (RunError if it cannot be)."""
    run_dir = Path(run_dir)
    record = read_job(run_dir)
    if record.get("status") == "trained":
        raise RunError(f"{run_dir} finished training already; nothing to resume")
    if not (run_dir / "checkpoints" / "last.ckpt").exists():
        raise RunError(f"{run_dir} has no checkpoint yet (killed in its first epoch): "
                       "start it again with `medgen img train`")
    return ImgJobConfig(**record["config"])


def train_job(config: ImgJobConfig, *, run_dir: Path | None = None, log: Log = print,
              progress_bar: bool | None = None, image_set=None,
              resume: bool = False) -> dict[str, Any]:
    """Train a GAN on the configured data; returns the job record (also in job.json).

    With ``resume`` the interrupted run in ``run_dir`` continues from its last
    checkpoint (weights, EMA generator, optimisers, epoch, best val_kid); pass the
    run's own settings (:func:`resume_config`)."""
    import torch

    from imaging.metrics import KIDMonitor, cached_features, subsample
    from imaging.task import MONITOR, GANTask, GANTaskConfig, image_loader
    from training import TrainConfig, fit, seed_everything
    from training.gan import fixed_noise_loader

    if resume and run_dir is None:
        raise RunError("resuming needs the run folder (--out DIR)")
    earlier = resume_config(run_dir) if resume else None
    if earlier is not None and earlier != config:
        raise RunError(f"{run_dir} was started with other settings; resume it with its own")
    image_set = image_set if image_set is not None else load_data(config)
    run_dir = Path(run_dir) if run_dir is not None else runs_dir() / new_run_id(config)
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} already exists; choose another run folder, or continue "
                       f"an interrupted run with `medgen img train --resume --out {run_dir}`")
    log(image_set.describe())
    for note in image_set.notes:
        log(f"  {note}")

    started = time.monotonic()
    seed_everything(config.seed)
    task_config = GANTaskConfig.for_data(config.resolution, image_set.num_classes,
                                         generator_channels=config.channels,
                                         discriminator_channels=config.channels,
                                         latent_dim=config.latent_dim)
    task = GANTask(task_config)
    loader = image_loader(image_set.train_images, image_set.train_labels,
                          batch_size=config.batch_size, seed=config.seed)
    steps_per_epoch = max(1, len(loader))
    every = max(1, math.ceil(config.monitor_every_steps / steps_per_epoch))
    every = min(every, config.max_epochs)

    # val_kid: KID of a fixed set of generated images (the training split's class
    # proportions) against Inception features of a fixed sample of training images,
    # computed once and cached.
    n_monitor = min(config.monitor_samples, len(image_set.train_images))
    monitor_idx = subsample(len(image_set.train_images), n_monitor, config.seed)
    log(f"val_kid every {every} epoch(s) ({steps_per_epoch} batches each) on {n_monitor} "
        "generated against as many training images")
    real = cached_features(image_set.train_images[monitor_idx],
                           f"{image_set.fingerprint()}-monitor-{n_monitor}-{config.seed}",
                           features_cache_dir())
    task.attach_monitor(KIDMonitor(real, subset_size=n_monitor, subsets=50))
    val = fixed_noise_loader(n_monitor, config.latent_dim,
                             labels=torch.from_numpy(image_set.train_labels[monitor_idx]),
                             seed=config.seed + 1)

    run_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "config": asdict(config), "task": task.hparams["config"], "status": "training",
        "data": {"name": image_set.name, "source": image_set.source, "demo": image_set.demo,
                 "description": image_set.describe(), "notes": image_set.notes,
                 "class_names": image_set.class_names,
                 "train_classes": image_set.class_counts("train").tolist(),
                 "train": len(image_set.train_images), "test": len(image_set.test_images),
                 "fingerprint": image_set.fingerprint()},
        "started": datetime.now(UTC).isoformat(timespec="seconds")}
    if resume:
        before = read_job(run_dir)
        record["started"] = before.get("started", record["started"])
        record["resumed"] = [*before.get("resumed", []),
                             datetime.now(UTC).isoformat(timespec="seconds")]
    _write_json(run_dir / JOB_FILE, record)
    train_config = TrainConfig(
        max_epochs=config.max_epochs, max_time_s=config.max_time_s, seed=config.seed,
        log_dir=str(run_dir.parent), run_name=run_dir.name, monitor=MONITOR, mode="min",
        patience=config.patience, check_val_every_n_epoch=every, num_sanity_val_steps=0,
        log_every_n_steps=min(50, steps_per_epoch), progress_bar=progress_bar, resume=resume)
    with quiet_lightning():
        result = fit(task, loader, train_config, val=val)
        # The weights at the end (a time budget rarely ends on a check) are scored too,
        # and compete with the best checked ones.
        final_kid = result.trainer.validate(task, val, verbose=False)[0].get(MONITOR)
    best = result.best_checkpoint
    if best is not None and best.exists() and (final_kid is None
                                               or result.best_score <= final_kid):
        shutil.copyfile(best, run_dir / MODEL_FILE)
        chosen = f"best val_kid {result.best_score:.4f} ({best.name})"
    else:
        result.trainer.save_checkpoint(run_dir / MODEL_FILE, weights_only=False)
        chosen = f"final weights, val_kid {final_kid:.4f}"
    record.update(status="trained", checkpoint=chosen, epochs=result.epochs,
                  optimizer_steps=result.global_step, best_val_kid=result.best_score,
                  resumed_from=str(result.resumed_from) if result.resumed_from else None,
                  final_val_kid=final_kid,
                  train_seconds=time.monotonic() - started,
                  finished=datetime.now(UTC).isoformat(timespec="seconds"))
    _write_json(run_dir / JOB_FILE, record)
    runs_dir().mkdir(parents=True, exist_ok=True)
    if run_dir.parent.resolve() == runs_dir().resolve():
        (runs_dir() / LATEST_FILE).write_text(f"{run_dir.resolve()}\n", encoding="utf-8")
    log(f"trained {result.epochs} epoch(s) in {record['train_seconds']:.0f} s; model: "
        f"{chosen}; run {run_dir}")
    record["run_dir"] = str(run_dir)
    return record


# ---- using a run ----------------------------------------------------------------------------

def load_task(run_dir: Path):
    from imaging.task import GANTask

    # the checkpoint holds tensors and builtin values only (the config saved as a dict)
    return load_module(GANTask, Path(run_dir) / MODEL_FILE, "medgen img train model")


def sampler_of(task) -> Callable[[np.ndarray, int], np.ndarray]:
    def sample(labels: np.ndarray, seed: int) -> np.ndarray:
        return task.sample(labels, seed=seed)[:, 0].numpy()
    return sample


def class_index(job: dict[str, Any], name: str | None) -> int | None:
    if name is None:
        return None
    names = job["data"]["class_names"]
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    raise RunError(f"no class {name!r} in this run; its classes are {', '.join(names)}")


def sample_job(run_dir: Path, n: int, out: Path, *, class_name: str | None = None,
               seed: int = 0, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """``n`` PNG images (the run's class proportions, or one class) and a grid in ``out``."""
    from imaging.metrics import matched_labels
    from imaging.pictures import grid, save_png

    if n < 1:
        raise RunError(f"-n must be >= 1, got {n}")
    job = read_job(run_dir)
    cls = class_index(job, class_name)
    task = load_task(run_dir)
    names = job["data"]["class_names"]
    if cls is None:
        train_counts = np.array(job["data"].get("train_classes") or [1] * len(names))
        labels = matched_labels(np.repeat(np.arange(len(names)), train_counts), n,
                                len(names), seed)
    else:
        labels = np.full(n, cls, dtype=np.int64)
    images = sampler_of(task)(labels, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        written.append(save_png(image, out / f"sample-{i:05d}-{names[label]}.png"))
        if progress is not None:
            progress(1)
    grid_path = save_png(grid(images[:256], 16), out / "grid.png", scale=2)
    return {"images": len(written), "out": str(out), "grid": str(grid_path),
            "classes": {names[c]: int((labels == c).sum()) for c in np.unique(labels)}}


def evaluate_job(run_dir: Path, *, image_set=None, config=None,
                 progress=None) -> dict[str, Any]:
    """FID/KID beside the real floor, memorisation and TSTR of a run; written to
    ``<run>/evaluation/metrics.json`` with the pictures beside it."""
    from imaging.evaluation import evaluate, goals

    job = read_job(run_dir)
    if image_set is None:
        saved = job["config"]
        image_set = load_data(ImgJobConfig(**saved))
        if image_set.fingerprint() != job["data"]["fingerprint"]:
            raise RunError(f"the data at {saved['data'] or 'the demo source'} is not the data "
                           f"run {run_dir} was trained on (its content changed)")
    task = load_task(run_dir)
    out = Path(run_dir) / EVALUATION_DIR
    report = evaluate(sampler_of(task), image_set, config=config,
                      cache_dir=features_cache_dir(), out_dir=out, progress=progress)
    report["goals"] = goals(report)
    report["run"] = str(run_dir)
    _write_json(out / "metrics.json", report)
    return report
