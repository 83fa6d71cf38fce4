"""Graph-neural completion of the knowledge graph as one job, and what a trained run answers.

:func:`train_job` composes the packages: Neo4j -> :func:`kg.export.export_hetero`
-> :class:`~kg.linkpred.TripleGraph` (a seeded split, written out) -> the shared
engine (:func:`training.fit`: checkpoints, early stopping on ``val_mrr``,
resume) -> filtered ranking of the test split -> ``PREDICTED_<TYPE>`` links for
the target relations and node embeddings written back to Neo4j. A run is one
folder, enough for ``diagnose`` (and for resuming) without the database:

    job.json          the job's config, the graph's fingerprint, status and result
    split/            train/valid/test.txt, nodes.tsv (the id map), relations.tsv
    checkpoints/      last.ckpt (resume) and best-NNN.ckpt, written by the engine
    model.ckpt        the best checkpoint with its calibration: what ``diagnose`` loads
    metrics.json      the test split's ranking report
    csv/, tensorboard/  the engine's logs

:func:`load_diagnoser` builds the :class:`kg.diagnosis.Diagnoser` of a finished run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from kg.diagnosis import Diagnoser
from kg.export import export_hetero
from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.linkpred.predictions import predict_links
from kg.models import DECODERS, ENCODERS
from kg.store import GraphStore
from kg.writeback import write_embeddings, write_predictions
from medgen.errors import RunError
from training import TrainConfig, config_from, config_to_dict, fit, seed_everything, select_device
from training.checkpoints import load_module
from training.paths import state_dir
from training.quiet import quiet_lightning

JOB_FILE = "job.json"
MODEL_FILE = "model.ckpt"
SPLIT_DIR = "split"
METRICS_FILE = "metrics.json"
LATEST_FILE = "LATEST"
PREDICTED_PREFIX = "PREDICTED_"
# the engine settings a job decides itself: where the run lives and what it monitors
OWNED_TRAIN_FIELDS = ("log_dir", "run_name", "resume", "monitor", "mode")
TRAIN_DEFAULTS: dict[str, Any] = {"max_epochs": 30, "patience": 5, "num_sanity_val_steps": 0,
                                  "log_every_n_steps": 10}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

Log = Callable[[str], None]


def runs_dir() -> Path:
    """Where runs live unless ``--out`` says otherwise: ``<state dir>/runs``."""
    return state_dir() / "runs"


# ---- the job's configuration ----------------------------------------------------------

def default_model() -> LinkPredictionConfig:
    """Shallow RotatE embeddings (dim 128) trained against a few sampled, type-constrained,
    self-adversarially weighted negatives in large batches. Its cost grows with the
    number of edges only; the 1-N loss ("ce") ranks better on small graphs but costs
    edges x nodes per epoch (on the HPO graph, about 40 minutes an epoch on two CPU
    cores), and a message-passing encoder pays a full-graph pass per step. Heads are
    scored exactly with the forward relation (``reciprocal=False``), which needs no
    second set of relation vectors.

    Chosen by ``benchmarks/kg_default_model.py`` within this job's own budget (30 epochs,
    early stopping after 5) on the default graph's held-out gene-disease links: RotatE
    at dim 128 reached test MRR 0.717 against 0.530 for ComplEx at dim 128 and 0.236 for
    ComplEx at dim 32 (the default until 2026-12-07), for about three to four times the
    training time. Under a short budget ComplEx learns sooner: ``medgen run``'s demo
    profile, cut at 120 s, keeps ComplEx at dim 128 (docs/benchmarks.md)."""
    return LinkPredictionConfig(encoder="none", decoder="rotate", dim=128, loss="softplus",
                                num_negatives=4, adversarial_temperature=1.0, lr=0.01,
                                batch_size=8192, eval_batch_size=256, reciprocal=False)


@dataclass
class SplitConfig:
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    # "targets": only the target relations' links are held out (the rest all train);
    # "all": every relation is split
    holdout: str = "targets"

    def __post_init__(self) -> None:
        self.fractions = tuple(float(f) for f in self.fractions)  # type: ignore[assignment]
        if self.holdout not in ("targets", "all"):
            raise ValueError(f"split.holdout must be 'targets' or 'all', got {self.holdout!r}")


@dataclass
class JobConfig:
    """What ``medgen kg train`` does; a JSON/YAML file holds the same keys."""

    model: LinkPredictionConfig = field(default_factory=default_model)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields (epochs, ...)
    split: SplitConfig = field(default_factory=SplitConfig)
    targets: list[str] = field(default_factory=lambda: ["ASSOCIATED_WITH"])
    relations: list[str] | None = None  # relationship types to learn from; None: all
    top_k: int = 20  # predictions written per head node and target relation
    embeddings: bool = True  # write node embeddings (and their vector index)
    keep_older_runs: bool = True  # keep other runs' PREDICTED_ links

    def __post_init__(self) -> None:
        if not isinstance(self.model, LinkPredictionConfig):
            self.model = config_from(LinkPredictionConfig, {**config_to_dict(default_model()),
                                                            **dict(self.model)})
        if not isinstance(self.split, SplitConfig):
            self.split = config_from(SplitConfig, self.split)
        self.train = dict(self.train)
        owned = sorted(set(self.train) & set(OWNED_TRAIN_FIELDS))
        if owned:
            raise ValueError(f"train {owned} are set by the job itself (the run folder, "
                             "resume, val_mrr monitoring), not in the config")
        self.train_config(Path("run"))  # unknown or bad engine settings fail now
        self.targets = list(self.targets)
        if not self.targets:
            raise ValueError("give at least one target relation")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        ENCODERS.get(self.model.encoder)  # unknown names fail before any work
        DECODERS.get(self.model.decoder)

    def train_config(self, run_dir: Path, *, resume: bool = False,
                     validate: bool = True) -> TrainConfig:
        owned = {"log_dir": str(run_dir.parent), "run_name": run_dir.name, "resume": resume,
                 "monitor": "val_mrr" if validate else None, "mode": "max"}
        settings = {**TRAIN_DEFAULTS, **self.train, **owned}
        if not validate:  # no validation triples: nothing to stop early on
            settings["patience"] = None
        return config_from(TrainConfig, settings)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> JobConfig:
        return config_from(cls, value)


def load_config(path: Path | None, **overrides: Any) -> JobConfig:
    """A job config from a JSON or YAML file (or the defaults), with ``overrides`` applied:
    ``encoder``, ``decoder``, ``dim``, ``num_neighbors``, ``seed`` go to the model and run,
    ``epochs`` and
    ``max_time`` to the engine, the rest (``targets``, ``top_k``, ``keep_older_runs``)
    to the job. None means "not given"."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_config_file(path)
    try:
        config = JobConfig.from_dict(raw)
        return apply_overrides(config, **overrides)
    except (ValueError, TypeError) as err:
        where = f"{path}: " if path is not None else ""
        raise RunError(f"{where}{err}") from err


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RunError(f"cannot read config {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise RunError(f"config {path}:{line} is not UTF-8 text") from err
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise RunError(f"config {path}: use a .json, .yaml or .yml file")
    except (json.JSONDecodeError, ValueError) as err:
        raise RunError(f"config {path} does not parse: {err}") from err
    except Exception as err:  # yaml.YAMLError, without importing yaml up front
        if type(err).__module__.startswith("yaml"):
            raise RunError(f"config {path} does not parse: {err}".replace("\n", " ")) from err
        raise
    if not isinstance(raw, dict):
        raise RunError(f"config {path} must hold a mapping (model, train, split, targets, ...)")
    return raw


def apply_overrides(config: JobConfig, *, encoder: str | None = None,
                    decoder: str | None = None, dim: int | None = None,
                    num_neighbors: list[int] | None = None,
                    seed: int | None = None, epochs: int | None = None,
                    max_time: float | None = None, targets: list[str] | None = None,
                    top_k: int | None = None, keep_older_runs: bool | None = None) -> JobConfig:
    d = config.to_dict()
    for key, value in (("encoder", encoder), ("decoder", decoder), ("dim", dim),
                       ("num_neighbors", num_neighbors)):
        if value is not None:
            d["model"][key] = value
    if seed is not None:
        d["train"]["seed"] = seed
        d["split"]["seed"] = seed
    if epochs is not None:
        d["train"]["max_epochs"] = epochs
    if max_time is not None:
        d["train"]["max_time_s"] = max_time
    for key, value in (("targets", targets or None), ("top_k", top_k),
                       ("keep_older_runs", keep_older_runs)):
        if value is not None:
            d[key] = value
    return JobConfig.from_dict(d)


def resume_config(saved: JobConfig, config_file: Path | None = None, *,
                  epochs: int | None = None, max_time: float | None = None,
                  top_k: int | None = None, keep_older_runs: bool | None = None,
                  **model_options: Any) -> JobConfig:
    """The config a resumed run continues with: the saved one, with a new budget (the
    engine settings of ``config_file``, ``epochs``, ``max_time``) or write-back size.
    Whatever would change the model or its split must agree with the saved run."""
    requested = load_config(config_file) if config_file is not None else saved
    try:
        wanted = apply_overrides(requested, **model_options)
    except (ValueError, TypeError) as err:
        raise RunError(str(err)) from err
    differ = [k for k in ("model", "split", "targets", "relations")
              if getattr(wanted, k) != getattr(saved, k)]
    if wanted.train.get("seed") != saved.train.get("seed"):
        differ.append("seed")
    if differ:
        raise RunError(f"--resume continues a run as it was configured, but the options "
                       f"given change its {', '.join(differ)}: drop them, or start a new run")
    d = saved.to_dict()
    d["train"].update(wanted.train)
    if config_file is not None:
        d.update(top_k=wanted.top_k, embeddings=wanted.embeddings,
                 keep_older_runs=wanted.keep_older_runs)
    try:
        return apply_overrides(JobConfig.from_dict(d), epochs=epochs, max_time=max_time,
                               top_k=top_k, keep_older_runs=keep_older_runs)
    except (ValueError, TypeError) as err:
        raise RunError(str(err)) from err


def new_run_id(config: JobConfig) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config.model.encoder}-{config.model.decoder}"


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):  # fullmatch: "$" would let "run\n" through
        raise RunError(f"run id {run_id!r} must be a plain name: letters, digits, '.', '_', "
                       "'-', starting with a letter or digit")
    return run_id


# ---- the graph a run was trained on -------------------------------------------------

def graph_info(id_maps: dict[str, list[str]], relations: list[str]) -> dict[str, Any]:
    """Node counts, a fingerprint of the node ids, and the relations: what decides
    whether a checkpoint's node and relation indices mean the same in another graph."""
    h = hashlib.sha256()
    for label in sorted(id_maps):
        h.update(label.encode() + b"\0" + "\n".join(id_maps[label]).encode() + b"\1")
    return {"nodes": {label: len(ids) for label, ids in sorted(id_maps.items())},
            "node_fingerprint": h.hexdigest()[:16], "relations": sorted(relations)}


def check_same_graph(saved: dict[str, Any], now: dict[str, Any], run_dir: Path) -> None:
    if saved["node_fingerprint"] == now["node_fingerprint"] and \
            saved["relations"] == now["relations"]:
        return
    def show(info: dict[str, Any]) -> str:
        nodes = ", ".join(f"{n} {label}" for label, n in info["nodes"].items())
        return f"{nodes}; relations {', '.join(info['relations'])}"
    what = ("the same node counts but other node ids"
            if saved["nodes"] == now["nodes"] and saved["relations"] == now["relations"]
            else f"{show(now)} (the run: {show(saved)})")
    raise RunError(f"run {run_dir} was trained on another graph: the graph in Neo4j has "
                   f"{what}; train a new run (without --resume)")


def learnable_types(store: GraphStore, relations: list[str] | None = None
                    ) -> tuple[list[str], list[str]]:
    """The labels and relationship types to learn from: every observed type (never a
    ``PREDICTED_`` one, or the model would learn its own predictions) or ``relations``."""
    patterns = [p for p in store.patterns() if not p["type"].startswith(PREDICTED_PREFIX)]
    present = sorted({p["type"] for p in patterns})
    if relations:
        unknown = sorted(set(relations) - set(present))
        if unknown:
            raise RunError(f"no relationships of type(s) {', '.join(unknown)} in the graph; "
                           f"it has {', '.join(present) or 'none'}")
    chosen = sorted(relations or present)
    if not chosen:
        raise RunError("the graph has no relationships to learn from: build or load one "
                       "first (`medgen kg build`)")
    labels = sorted({x for p in patterns if p["type"] in chosen for x in (p["start"], p["end"])})
    return labels, chosen


def node_graph_info(store: GraphStore, saved: dict[str, Any]) -> dict[str, Any]:
    """:func:`graph_info` of the database for the labels and relations a run used,
    without exporting the edges."""
    id_maps = {}
    for label in saved["nodes"]:
        store.schema.add_label(label)  # names read from the run, checked as identifiers
        id_maps[label] = store.node_ids(label)
    present = set(store.counts()["relationships"])
    return graph_info(id_maps, [r for r in saved["relations"] if r in present])


# ---- runs on disk ---------------------------------------------------------------------

def read_job(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / JOB_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not a training run (no {JOB_FILE}); train one with "
                       "`medgen kg train`")
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is damaged: {err}") from err
    missing = [k for k in ("run_id", "config", "graph")
               if not isinstance(job, dict) or k not in job]
    if missing:
        raise RunError(f"{path} is not a `medgen kg train` job file (no {', '.join(missing)}); "
                       "is this a run folder?")
    return job


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)  # a kill mid-write leaves the previous file, never half of one


def latest_run() -> Path:
    pointer = runs_dir() / LATEST_FILE
    if not pointer.exists():
        raise RunError("no trained run yet: train one with `medgen kg train`, or pass --run DIR")
    return Path(pointer.read_text(encoding="utf-8").strip())


# ---- training -------------------------------------------------------------------------

@dataclass
class TrainOutcome:
    run_id: str
    run_dir: Path
    graph: str  # the split's summary
    epochs: int
    resumed_from: Path | None
    best_val_mrr: float | None
    train_seconds: float
    total_seconds: float
    ranking: list[dict[str, Any]]  # per target relation and direction, then all triples
    auroc: dict[str, dict[str, float]]  # target relation -> AUROC / AUPRC on the test split
    predictions: dict[str, int]  # PREDICTED_<TYPE> -> links written
    embeddings: int  # nodes given an embedding

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def train_job(store: GraphStore, config: JobConfig, run_dir: Path, *, run_id: str,
              resume: bool = False, log: Log | None = None,
              callbacks: list | None = None) -> TrainOutcome:
    """Export, split, train, evaluate and write back one run (see the module docstring).

    With ``resume`` the run in ``run_dir`` continues from its last checkpoint on its
    saved split; the graph in Neo4j must still have the same nodes and relations.
    """
    log = log or (lambda _msg: None)
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    check_run_id(run_id)
    saved = read_job(run_dir) if (run_dir / JOB_FILE).exists() else None
    if saved is not None and not resume:
        raise RunError(f"{run_dir} already holds run {saved.get('run_id')!r}: pass --resume "
                       "to continue it, or choose another --run-id / --out")
    if saved is None and resume:
        raise RunError(f"nothing to resume in {run_dir} (no {JOB_FILE}): start the run "
                       "without --resume")

    labels, relations = learnable_types(store, config.relations)
    unknown = [t for t in config.targets if t not in relations]
    if unknown:
        raise RunError(f"unknown target relation(s) {', '.join(unknown)}; the graph's "
                       f"relations: {', '.join(relations)}")
    log(f"exporting {', '.join(labels)} with {', '.join(relations)} from Neo4j")
    export = export_hetero(store, labels=labels, rel_types=relations)
    info = graph_info(export.id_maps, relations)
    if saved is not None:
        check_same_graph(saved["graph"], info, run_dir)
        graph = TripleGraph.from_triples_dir(run_dir / SPLIT_DIR)  # the run's own split
    else:
        holdout = config.targets if config.split.holdout == "targets" else None
        graph = TripleGraph.from_export(export, fractions=config.split.fractions,
                                        seed=config.split.seed, holdout_relations=holdout)
        graph.save(run_dir / SPLIT_DIR)
    del export
    log(f"graph: {graph.summary()}")
    job = {"run_id": run_id, "created_at": (saved or {}).get(
        "created_at", datetime.now(UTC).isoformat(timespec="seconds")),
        "config": config.to_dict(), "graph": info, "status": "training"}
    _write_json(run_dir / JOB_FILE, job)

    validate = len(graph.valid) > 0
    if not validate:
        log("no validation triples: training without early stopping, keeping the last epoch")
    train_config = config.train_config(run_dir, resume=resume, validate=validate)
    seed_everything(train_config.seed)
    task = LinkPredictionTask(config.model, graph)
    t_train = time.perf_counter()
    with quiet_lightning():
        result = fit(task, None, train_config, callbacks=callbacks)
    train_seconds = time.perf_counter() - t_train
    log(f"trained {result.epochs} epochs in {train_seconds:.1f} s"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""))

    best = (result.best_checkpoint if validate else None) or result.last_checkpoint
    if best is None:
        raise RunError(f"training left no checkpoint in {run_dir / 'checkpoints'}")
    device = select_device(train_config.accelerator)
    task = LinkPredictionTask.load_from_checkpoint(best, map_location=device).attach(graph)
    task.eval()
    if validate:
        task.calibrate("valid")
    _save_model(best, task, run_dir / MODEL_FILE)

    report = task.evaluate("test")
    ranking = ranking_rows(report, graph, task, config.targets)
    auroc = {}
    for name in config.targets:
        if bool((graph.test[:, 1] == graph.relation_index(name)).any()):
            auroc[name] = task.evaluate_relation(name, "test")
    _write_json(run_dir / METRICS_FILE, {"test": report.to_dict(), "auroc": auroc})

    model_name = _model_name(task.config)
    written: dict[str, int] = {}
    with torch.no_grad():
        emb = task.embed()
        for name in config.targets:
            log(f"writing the top {config.top_k} predicted {name} links per head node")
            for (start, end), rows in predict_links(task, graph, emb, name,
                                                    config.top_k).items():
                rep = write_predictions(store, name, start, end, rows, model=model_name,
                                        run_id=run_id, keep_older_runs=config.keep_older_runs)
                key = f"{PREDICTED_PREFIX}{name}"
                written[key] = written.get(key, 0) + rep.written
        n_emb = 0
        # a path model has no vector per node (emb.nodes is (N, 0)): `kg similar` keeps
        # the embeddings an earlier run of another model wrote
        if config.embeddings and emb.nodes.size(1) > 0:
            log(f"writing {graph.num_nodes} node embeddings")
            vectors = emb.nodes.detach().float().cpu().numpy()
            types = graph.node_type.numpy()
            for k, label in enumerate(graph.node_types):
                idx = np.flatnonzero(types == k)
                n_emb += write_embeddings(store, label, [graph.node_ids[i] for i in idx],
                                          vectors[idx], run_id=run_id)

    outcome = TrainOutcome(
        run_id=run_id, run_dir=run_dir, graph=graph.summary(), epochs=result.epochs,
        resumed_from=result.resumed_from,
        best_val_mrr=result.best_score if validate else None, train_seconds=train_seconds,
        total_seconds=time.perf_counter() - t0, ranking=ranking, auroc=auroc,
        predictions=written, embeddings=n_emb)
    _write_json(run_dir / JOB_FILE, {**job, "status": "done", "model": model_name,
                                     "finished_at": datetime.now(UTC).isoformat(
                                         timespec="seconds"), "result": outcome.to_dict()})
    runs_dir().mkdir(parents=True, exist_ok=True)
    (runs_dir() / LATEST_FILE).write_text(f"{run_dir.resolve()}\n", encoding="utf-8")
    return outcome


def _model_name(c: LinkPredictionConfig) -> str:
    parts = [c.encoder, c.decoder] if c.encoder != "none" else [c.decoder]
    return "+".join(parts) + (f" ({c.model})" if c.model != "kge" else "") + f", dim {c.dim}"


def _save_model(checkpoint: Path, task: LinkPredictionTask, path: Path) -> None:
    """The chosen checkpoint with the task's current weights (the calibration included),
    without the optimiser state: loads with ``LinkPredictionTask.load_from_checkpoint``."""
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)  # plain data only
    keep = {k: v for k, v in blob.items()
            if k in ("epoch", "global_step", "pytorch-lightning_version", "hyper_parameters",
                     "hparams_name")}
    keep["state_dict"] = {k: v.detach().cpu() for k, v in task.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save(keep, tmp)
    tmp.replace(path)


def _side_types(task: LinkPredictionTask, graph: TripleGraph, relation: int) -> tuple[str, str]:
    assert task.sampler is not None
    def names(mask: Tensor) -> str:
        return "|".join(graph.node_types[i] for i in mask.nonzero().squeeze(1).tolist())
    return (names(task.sampler.domain[relation].cpu()),
            names(task.sampler.range[relation].cpu()))


def ranking_rows(report, graph: TripleGraph, task: LinkPredictionTask,
                 targets: list[str]) -> list[dict[str, Any]]:
    """Filtered MRR / Hits@k of each target relation in each direction, then overall."""
    rows = []
    for name in targets:
        r = graph.relation_index(name)
        head, tail = _side_types(task, graph, r)
        for direction, predicts in (("tail", f"{tail} given {head}"),
                                    ("head", f"{head} given {tail}")):
            rows.append({"relation": name, "direction": direction, "predicts": predicts,
                         **_finite(report.metrics(direction, r))})
    rows.append({"relation": "(all)", "direction": "both", "predicts": "every test triple",
                 **_finite(report.metrics())})
    return rows


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    # no test triple of a relation gives NaN metrics; JSON has no NaN
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in metrics.items()}


def load_diagnoser(run_dir: Path, **kwargs: Any) -> Diagnoser:
    """The diagnoser of a finished ``kg train`` run: its best model and its graph."""
    run_dir = Path(run_dir)
    job = read_job(run_dir)
    model = run_dir / MODEL_FILE
    if not model.exists():
        raise RunError(f"run {run_dir} has not finished training (status "
                       f"{job.get('status')!r}, no {MODEL_FILE}): resume it with "
                       f"`medgen kg train --resume --out {run_dir}`")
    task = load_module(LinkPredictionTask, model, "`medgen kg train` model")
    graph = TripleGraph.from_triples_dir(run_dir / SPLIT_DIR)
    return Diagnoser(task, graph, **kwargs)
