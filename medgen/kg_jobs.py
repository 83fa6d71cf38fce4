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

:class:`Diagnoser` ranks Disease nodes for a set of phenotype terms with a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor

from kg.export import export_hetero
from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from kg.models import DECODERS, ENCODERS, Embeddings
from kg.store import GraphStore
from kg.writeback import write_embeddings, write_predictions
from medgen.errors import RunError
from training import TrainConfig, config_from, config_to_dict, fit, seed_everything, select_device
from training.paths import state_dir

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
    """Small and fast on a CPU: shallow ComplEx embeddings trained against a few sampled,
    self-adversarially weighted negatives in large batches. Its cost grows with the number
    of edges only; the 1-N loss ("ce") ranks better on small graphs but costs edges x
    nodes per epoch (on the HPO graph, about 40 minutes an epoch on two CPU cores), and a
    message-passing encoder pays a full-graph pass per step. Heads are scored exactly
    with the forward relation (``reciprocal=False``), which needs no second set of
    relation vectors."""
    return LinkPredictionConfig(encoder="none", decoder="complex", dim=32, loss="softplus",
                                num_negatives=4, adversarial_temperature=1.0, lr=0.05,
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
        raw = _read_config_file(path)
    try:
        config = JobConfig.from_dict(raw)
        return apply_overrides(config, **overrides)
    except (ValueError, TypeError) as err:
        where = f"{path}: " if path is not None else ""
        raise RunError(f"{where}{err}") from err


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RunError(f"cannot read config {path}: {err.strerror or err}") from err
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
    if not _RUN_ID.match(run_id):
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
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunError(f"{path} is damaged: {err}") from err


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


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    # The tensors live in memory, so worker processes would only add start-up time;
    # Lightning's banner about accelerators is noise in a command's output.
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
            # Lightning 2.6 on torch 2.10+ warns of its own use of torch's pytree API
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
            yield
    finally:
        logger.setLevel(level)


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
    with _quiet_lightning():
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
        if config.embeddings:
            log(f"writing {graph.num_nodes} node embeddings")
            vectors = emb.nodes.detach().float().cpu().numpy()
            types = graph.node_type.numpy()
            for k, label in enumerate(graph.node_types):
                idx = np.flatnonzero(types == k)
                n_emb += write_embeddings(store, label, [graph.node_ids[i] for i in idx],
                                          vectors[idx])

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
    blob = torch.load(checkpoint, map_location="cpu", weights_only=False)
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


@torch.no_grad()
def predict_links(task: LinkPredictionTask, graph: TripleGraph, emb: Embeddings,
                  relation: str, top_k: int, batch_size: int = 512
                  ) -> dict[tuple[str, str], pd.DataFrame]:
    """The ``top_k`` most probable new tails of ``relation`` for every node that can be
    its head, never a known triple: {(start label, end label): rows start/end/score/rank}.

    ``score`` is the calibrated probability; ``rank`` counts from 1 per head.
    """
    assert task.sampler is not None
    r = graph.relation_index(relation)
    heads = task.sampler.allowed(r, "head").nonzero().squeeze(1)
    tails_ok = task.sampler.allowed(r, "tail")
    known = graph.all_triples().to(emb.nodes.device)
    parts = []
    for chunk in heads.split(batch_size):
        prop = task.model.propose(emb, r, chunk.to(emb.nodes.device), top_k,
                                  allowed_tails=tails_ok, known=known)
        parts.append((prop.heads.cpu(), prop.tails.cpu(), prop.probabilities.cpu(),
                      prop.scores.cpu()))
    if not parts:
        return {}
    h, t, p, s = (torch.cat(x) for x in zip(*parts, strict=True))
    frame = pd.DataFrame({"h": h.numpy(), "t": t.numpy(), "score": p.double().numpy(),
                          "raw": s.double().numpy()})
    # proposals arrive best first per head; rank by the raw score, which never saturates
    frame = frame.sort_values(["h", "raw"], ascending=[True, False], kind="stable")
    frame["rank"] = frame.groupby("h").cumcount() + 1
    ids = np.asarray(graph.node_ids, dtype=object)
    types = np.asarray(graph.node_types, dtype=object)[graph.node_type.numpy()]
    frame["start"], frame["end"] = ids[frame["h"]], ids[frame["t"]]
    frame["start_label"], frame["end_label"] = types[frame["h"]], types[frame["t"]]
    return {(a, b): g[["start", "end", "score", "rank"]].reset_index(drop=True)
            for (a, b), g in frame.groupby(["start_label", "end_label"], sort=True)}


# ---- diagnosis ------------------------------------------------------------------------

DISEASE, PHENOTYPE, GENE = "Disease", "Phenotype", "Gene"
HAS_PHENOTYPE, IS_A, ASSOCIATED_WITH = "HAS_PHENOTYPE", "IS_A", "ASSOCIATED_WITH"
# The prior: what predicts the phenotypes a disease shows beyond its own annotations, as
# relative weights (normalised to sum 1; see Diagnoser). These defaults, PSEUDO_COUNT and
# the neighbourhood below were chosen on patients of our own (``benchmarks/diagnosis.py
# --validate``: Protocol A's recipe on the run's graph, Protocol B's on a second hold-out
# inside the Protocol B training graph), never on the benchmark's patients. A larger
# pseudo-count trades top-1 on complete annotations for recall on incomplete ones.
PRIOR_WEIGHTS = {"model": 0.15, "relatives": 0.4, "genes": 0.2, "similar": 0.15}
PSEUDO_COUNT = 25.0  # annotations' worth of trust in the prior (Dirichlet pseudo-count)
SIMILAR_DISEASES = 50  # neighbours per disease of the "similar" part
SIMILARITY_POWER = 3.0  # neighbour weight: cosine ** power, so the closest dominate
RELATIVE_FLOOR = 1e-3  # a disease sharing a gene counts even with no phenotype in common


@dataclass
class Support:
    phenotype: str
    probability: float  # P(the disease shows this term or a subterm of it), as scored
    observed: str | None  # "annotated", or the annotated subterm(s) that imply it; None
    sources: dict[str, float] = field(default_factory=dict)  # that probability's parts


@dataclass
class Candidate:
    rank: int
    disease: str
    score: float  # mean log-likelihood per given term (nats); higher is better
    posterior: float  # P(disease | terms) over all candidates, uniform prior
    support: list[Support]

    def supported(self) -> list[Support]:
        return [s for s in self.support if s.observed]


def parse_prior(text: str) -> dict[str, float]:
    """``"model=0.2,relatives=0.8"`` -> weights for :class:`Diagnoser`'s ``prior``."""
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value) if sep else float("nan")
        except ValueError:
            out[name.strip()] = float("nan")
        if not sep or not math.isfinite(out[name.strip()]):
            raise RunError(f"prior weights are name=number pairs joined by commas, e.g. "
                           f"'model=0.5,relatives=0.5'; got {item!r}")
    return out


def _prior_weights(prior: dict[str, float] | None) -> dict[str, float]:
    prior = dict(PRIOR_WEIGHTS if prior is None else prior)
    unknown = sorted(set(prior) - set(PRIOR_WEIGHTS))
    if unknown:
        raise RunError(f"unknown prior part(s) {', '.join(unknown)}; the parts are "
                       f"{', '.join(PRIOR_WEIGHTS)}")
    if any(not math.isfinite(w) or w < 0 for w in prior.values()) or sum(prior.values()) <= 0:
        raise RunError(f"prior weights must be >= 0 and not all 0, got {prior}")
    total = sum(prior.values())
    return {name: prior.get(name, 0.0) / total for name in PRIOR_WEIGHTS}


class Diagnoser:
    """Ranks every Disease for a set of phenotype terms with a trained link predictor and
    the graph it was trained on.

    Each disease ``d`` gets a distribution over phenotype terms, ``p(t | d)``: what a
    patient with ``d`` shows. Its own annotations give the empirical one (uniform over its
    ``n_d`` annotated terms), but annotations are incomplete, so they are smoothed towards
    a prior as in a Dirichlet posterior mean with pseudo-count ``pseudo_count`` (``a``):

        p(t | d) = w_d ann_d(t) + (1 - w_d) prior_d(t),   w_d = n_d / (n_d + a)

    (well-annotated diseases keep their annotations, sparse ones lean on the prior; no
    annotations: the prior alone). The prior mixes, with weights ``prior`` (normalised to
    sum 1), distributions that are all computed from the graph the model trained on:

    - ``model``: the trained model scores ``(d, HAS_PHENOTYPE, t)`` for every term; a
      softmax over all Phenotype nodes turns its row into a distribution;
    - ``relatives``: the annotations of the diseases that share a gene with ``d``
      (allelic disorders, and the same disorder catalogued twice, e.g. OMIM and
      Orphanet), each weighted by ``cos(d, d')^3`` (+ a small floor);
    - ``similar``: the annotations of the 50 diseases whose annotations are most alike
      (collaborative filtering, weights ``cos^3``), genes or not;
    - ``genes``: the phenotypes of ``d``'s genes (Gene-HAS_PHENOTYPE->Phenotype),
      averaged over its genes (uniform within a gene).

    ``cos`` compares annotation profiles propagated up the ontology (a term implies its
    ancestors) with each term weighted by its information content ``log(D / #diseases
    showing it)``, so shared rare findings count and shared generic ones barely do. A
    part a disease lacks (no genes, no relatives) contributes no mass.

    A patient's term ``q`` counts as explained by a disease when the disease shows ``q``
    *or any subterm of it* (true-path rule), so its probability is the mass of ``q``'s
    descendants, ``P_d(q) = sum_{t <= q} p(t | d)``. Patients' term lists hold noise
    (unrelated findings, imprecise terms), so each term is a mixture of the disease and a
    uniform background with weight ``noise``:

        score(d) = mean_q log((1 - noise) P_d(q) + noise |desc(q)| / |terms|)

    One unexplained term then costs at most ``log(noise)`` instead of ruling a disease
    out; a term that explains every disease (the root) changes no ranking. Every part is
    linear in ``p``, so a patient costs one (diseases x descendants) product per part
    (sparse neighbour and gene matrices applied to the annotations' share below each
    term): all diseases at once, no loop over them. The model's ``logsumexp`` normaliser
    per disease, the neighbourhoods and the gene matrices are computed once at load.
    """

    def __init__(self, task: LinkPredictionTask, graph: TripleGraph, *, noise: float = 0.1,
                 pseudo_count: float = PSEUDO_COUNT, prior: dict[str, float] | None = None,
                 device: torch.device | str = "cpu", chunk: int = 4096,
                 similar_diseases: int = SIMILAR_DISEASES):
        if not 0.0 < noise < 1.0:
            raise RunError(f"noise must be in (0, 1), got {noise}")
        if not pseudo_count >= 0.0:
            raise RunError(f"pseudo_count must be >= 0, got {pseudo_count}")
        self.noise, self.pseudo_count, self.chunk = noise, pseudo_count, chunk
        self.prior = _prior_weights(prior)
        self.node_ids = graph.node_ids
        for name, items, what in ((DISEASE, graph.node_types, "node label"),
                                  (PHENOTYPE, graph.node_types, "node label"),
                                  (HAS_PHENOTYPE, graph.relations, "relation")):
            if name not in items:
                raise RunError(f"diagnose needs a model trained on a graph with {DISEASE}-"
                               f"[:{HAS_PHENOTYPE}]->{PHENOTYPE}; this run's graph has no "
                               f"{what} {name}")
        self.relation = graph.relations.index(HAS_PHENOTYPE)
        types = graph.node_type
        self.disease_nodes = (types == graph.node_types.index(DISEASE)).nonzero().squeeze(1)
        self.term_nodes = (types == graph.node_types.index(PHENOTYPE)).nonzero().squeeze(1)
        self.term_column = {graph.node_ids[i]: c for c, i in enumerate(self.term_nodes.tolist())}
        self.disease_ids = [graph.node_ids[i] for i in self.disease_nodes.tolist()]
        self.all_ids = set(graph.node_ids)

        task = task.to(device).eval()
        self.model = task.model
        self.device = torch.device(device)
        with torch.no_grad():
            emb = task.embed()
            self.disease_vec = emb.nodes[self.disease_nodes.to(device)]  # (D, d)
            self.term_vec = emb.nodes[self.term_nodes.to(device)]  # (P, d)
            self.rel_vec = emb.relations[self.relation]  # (d,)
            self.log_norm = torch.cat([  # (D,) logsumexp over all terms, per disease
                torch.logsumexp(self._scores(rows, self.term_vec), dim=1)
                for rows in self.disease_vec.split(max(1, chunk // 8))])

        self.evidence = PhenotypeEvidence(graph, self.disease_nodes, self.term_nodes,
                                          similar_diseases=similar_diseases)
        self.annotations = self.evidence.annotations  # (D, P) 0/1
        self.descendants = self.evidence.descendants  # (P, P) row q: q and its subterms
        self.annotation_count = torch.from_numpy(self.evidence.count)  # (D,)

    @classmethod
    def load(cls, run_dir: Path, **kwargs: Any) -> Diagnoser:
        run_dir = Path(run_dir)
        job = read_job(run_dir)
        model = run_dir / MODEL_FILE
        if not model.exists():
            raise RunError(f"run {run_dir} has not finished training (status "
                           f"{job.get('status')!r}, no {MODEL_FILE}): resume it with "
                           f"`medgen kg train --resume --out {run_dir}`")
        task = LinkPredictionTask.load_from_checkpoint(model, map_location="cpu")
        graph = TripleGraph.from_triples_dir(run_dir / SPLIT_DIR)
        return cls(task, graph, **kwargs)

    def _scores(self, diseases: Tensor, terms: Tensor) -> Tensor:
        # (B, d) diseases x (C, d) terms -> (B, C): score of (disease, HAS_PHENOTYPE, term)
        return self.model.decoder.score_tails(diseases, self.rel_vec.expand_as(diseases), terms)

    def check_terms(self, phenotypes: list[str]) -> list[str]:
        terms = list(dict.fromkeys(p.strip() for p in phenotypes if p.strip()))
        if not terms:
            raise RunError("give at least one phenotype id, e.g. "
                           "`medgen kg diagnose HP:0001166 HP:0001519`")
        unknown = [t for t in terms if t not in self.all_ids]
        if unknown:
            raise RunError(f"unknown phenotype id(s) {', '.join(unknown)}: not in the graph "
                           "the model was trained on")
        other = [t for t in terms if t not in self.term_column]
        if other:
            raise RunError(f"{', '.join(other)} name(s) nodes that are not {PHENOTYPE} terms")
        return terms

    @torch.no_grad()
    def probabilities(self, terms: list[str]) -> Tensor:
        """(D, Q): the model's probability that each disease shows each term or one of
        its subterms."""
        cols = [self.term_column[t] for t in terms]
        desc = self.descendants[cols]  # (Q, P) sparse
        union = np.unique(desc.indices)  # every term below any given one
        member = torch.from_numpy(desc[:, union].T.toarray().astype(np.float32))  # (U, Q)
        member = member.to(self.disease_vec.device)
        out = torch.zeros(len(self.disease_ids), len(terms), device=self.disease_vec.device)
        for start in range(0, len(union), self.chunk):
            idx = torch.from_numpy(union[start:start + self.chunk]).to(self.term_vec.device)
            logp = self._scores(self.disease_vec, self.term_vec[idx]) - self.log_norm[:, None]
            out += logp.exp() @ member[start:start + self.chunk]  # (D, U') @ (U', Q)
        return out.clamp_(max=1.0)

    @torch.no_grad()
    def parts(self, terms: list[str], every: bool = False) -> dict[str, Tensor]:
        """(D, Q) per source: ``annotations`` (each disease's share of annotations at or
        below each term) and the prior's parts with a non-zero weight (``every``: all)."""
        cols = [self.term_column[t] for t in terms]
        names = [n for n, w in self.prior.items() if (w > 0 or every) and n != "model"]
        out = {name: torch.from_numpy(value).to(self.device)
               for name, value in self.evidence.parts(cols, names).items()}
        if self.prior["model"] > 0 or every:
            out["model"] = self.probabilities(terms)
        return out

    def _loglik(self, terms: list[str]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        return self.mix(self.parts(terms), [self.term_column[t] for t in terms])

    def mix(self, parts: dict[str, Tensor], cols: list[int]
            ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """From :meth:`parts` of the terms in columns ``cols``: ``P_d(q)`` (D, Q), the
        per-term log-likelihoods (D, Q) and each part as weighted in ``P_d(q)``, with
        this diagnoser's ``pseudo_count``, ``prior`` and ``noise``."""
        count = self.annotation_count.to(self.device)[:, None]
        own = torch.zeros_like(count)
        if math.isfinite(self.pseudo_count):
            own = torch.where(count > 0, count / (count + self.pseudo_count), own)
        weighted = {"annotations": own * parts["annotations"]}
        for name, value in parts.items():
            if name != "annotations" and self.prior[name] > 0:
                weighted[name] = (1 - own) * self.prior[name] * value
        mixed = torch.stack(list(weighted.values())).sum(0).clamp(max=1.0)
        background = torch.tensor(np.diff(self.descendants.indptr)[cols] / len(self.term_column),
                                  dtype=mixed.dtype, device=mixed.device)  # (Q,)
        return mixed, torch.log((1 - self.noise) * mixed + self.noise * background), weighted

    def scores(self, phenotypes: list[str]) -> Tensor:
        """(D,) the score of every disease, in :attr:`disease_ids` order (for benchmarks
        that rank a candidate set of their own)."""
        return self._loglik(self.check_terms(phenotypes))[1].mean(1)

    def rank(self, phenotypes: list[str], k: int = 10,
             candidates: list[str] | None = None) -> list[Candidate]:
        """The ``k`` diseases (of ``candidates``, default all) most likely to show
        ``phenotypes``, each with the terms it explains."""
        if k < 1:
            raise RunError(f"k must be at least 1, got {k}")
        terms = self.check_terms(phenotypes)
        cols = [self.term_column[t] for t in terms]
        prob, loglik, weighted = self._loglik(terms)  # (D, Q) each
        score = loglik.mean(1)  # (D,)
        if candidates is not None:
            allowed = torch.zeros_like(score, dtype=torch.bool)
            index = {d: i for i, d in enumerate(self.disease_ids)}
            allowed[[index[c] for c in candidates if c in index]] = True
            score = score.masked_fill(~allowed, float("-inf"))
        posterior = torch.softmax(loglik.sum(1).masked_fill(~torch.isfinite(score),
                                                            float("-inf")), dim=0)
        top = torch.topk(score, min(k, int(torch.isfinite(score).sum()))).indices.tolist()
        observed = (self.annotations[top] @ self.descendants[cols].T).toarray()  # (k, Q)
        out = []
        for rank, d in enumerate(top, start=1):
            support = []
            for j, (term, col) in enumerate(zip(terms, cols, strict=True)):
                note = None
                if observed[rank - 1, j]:
                    note = "annotated" if self.annotations[d, col] else self._via(d, col)
                support.append(Support(term, float(prob[d, j]), note,
                                       {n: float(v[d, j]) for n, v in weighted.items()}))
            out.append(Candidate(rank, self.disease_ids[d], float(score[d]),
                                 float(posterior[d]), support))
        return out

    def _via(self, disease: int, col: int, limit: int = 3) -> str:
        below = set(self.descendants[col].indices.tolist())
        mine = [c for c in self.annotations[disease].indices.tolist() if c in below]
        names = sorted(self.node_ids[self.term_nodes[c]] for c in mine)
        more = f" +{len(names) - limit}" if len(names) > limit else ""
        return "via " + ", ".join(names[:limit]) + more


class PhenotypeEvidence:
    """What the graph itself says about each disease's phenotypes (see :class:`Diagnoser`),
    as sparse matrices over the diseases ``D`` and phenotype terms ``P`` of ``graph`` in
    the order of ``disease_nodes`` and ``term_nodes``:

    ``annotations`` (D, P) 0/1 and ``share`` (rows sum to 1 or are empty);
    ``descendants`` (P, P): row ``q`` marks ``q`` and its subterms; ``profiles`` (D, P):
    annotations propagated to ancestors, IC-weighted, unit rows; ``relatives`` and
    ``similar`` (D, D): row-stochastic neighbour weights; ``disease_genes`` (D, G) and
    ``gene_terms`` (G, P), both row-stochastic."""

    def __init__(self, graph: TripleGraph, disease_nodes: Tensor, term_nodes: Tensor, *,
                 similar_diseases: int = SIMILAR_DISEASES, power: float = SIMILARITY_POWER):
        triples = graph.all_triples()
        n_d, n_p = len(disease_nodes), len(term_nodes)
        to_disease = _positions(graph.num_nodes, disease_nodes)
        to_term = _positions(graph.num_nodes, term_nodes)
        has = triples[:, 1] == graph.relations.index(HAS_PHENOTYPE)
        ann = triples[has & (to_disease[triples[:, 0]] >= 0) & (to_term[triples[:, 2]] >= 0)]
        self.annotations = _bool_matrix(to_disease[ann[:, 0]], to_term[ann[:, 2]], (n_d, n_p))
        parents = torch.empty(0, 3, dtype=torch.long)
        if IS_A in graph.relations:
            r = graph.relations.index(IS_A)
            parents = triples[(triples[:, 1] == r) & (to_term[triples[:, 0]] >= 0)
                              & (to_term[triples[:, 2]] >= 0)]
        parent = _bool_matrix(to_term[parents[:, 0]], to_term[parents[:, 2]], (n_p, n_p))
        ancestors = ancestor_closure(parent)  # row t: t and its ancestors
        self.descendants = ancestors.T.tocsr()
        self.count = np.asarray(self.annotations.sum(1)).ravel().astype(np.float32)
        self.share = _row_stochastic(self.annotations)

        implied = self.annotations @ ancestors
        implied.data[:] = 1
        ic = np.log(n_d / np.maximum(np.asarray(implied.sum(0)).ravel(), 1))
        profiles = (implied @ sp.diags(ic.astype(np.float32))).tocsr().astype(np.float32)
        norm = np.sqrt(np.asarray(profiles.multiply(profiles).sum(1)).ravel())
        self.profiles = (sp.diags(1 / np.where(norm > 0, norm, 1)) @ profiles).tocsr()

        genes = torch.empty(0, dtype=torch.long)
        links = torch.empty(0, 3, dtype=torch.long)
        if GENE in graph.node_types:
            genes = (graph.node_type == graph.node_types.index(GENE)).nonzero().squeeze(1)
        to_gene = _positions(graph.num_nodes, genes)
        gene_terms = triples[has & (to_gene[triples[:, 0]] >= 0) & (to_term[triples[:, 2]] >= 0)]
        if ASSOCIATED_WITH in graph.relations:
            links = triples[triples[:, 1] == graph.relations.index(ASSOCIATED_WITH)]
        h, t = links[:, 0], links[:, 2]  # either direction: Gene->Disease or Disease->Gene
        gene = torch.where(to_gene[h] >= 0, to_gene[h], to_gene[t])
        disease = torch.where(to_disease[h] >= 0, to_disease[h], to_disease[t])
        keep = (gene >= 0) & (disease >= 0)
        disease_genes = _bool_matrix(disease[keep], gene[keep], (n_d, len(genes)))
        self.disease_genes = _row_stochastic(disease_genes)
        self.gene_terms = _row_stochastic(_bool_matrix(
            to_gene[gene_terms[:, 0]], to_term[gene_terms[:, 2]], (len(genes), n_p)))

        shared = (disease_genes @ disease_genes.T).tocoo()
        pairs = shared.row != shared.col
        rows, cols = shared.row[pairs], shared.col[pairs]
        cosine = np.asarray(self.profiles[rows].multiply(self.profiles[cols]).sum(1)).ravel()
        self.relatives = _row_stochastic(sp.csr_matrix(
            (np.maximum(cosine, 0) ** power + RELATIVE_FLOOR, (rows, cols)), shape=(n_d, n_d)))
        self.similar = _row_stochastic(self._nearest(similar_diseases, power))

    def _nearest(self, k: int, power: float, block: int = 1024,
                 common: float = 0.05) -> sp.csr_matrix:
        """(D, D) the ``k`` most similar other diseases of each, weight cosine ** power.

        Exact cosines, computed in blocks of rows: terms held by more than ``common`` of
        the diseases (a few hundred near the root) as a dense product, the rest sparse;
        terms held by one disease alone add nothing to any pair and are left out."""
        n = self.profiles.shape[0]
        k = min(k, n - 1)
        if k < 1:
            return sp.csr_matrix((n, n), dtype=np.float32)
        held = np.diff(self.profiles.tocsc().indptr)
        rare = self.profiles[:, np.flatnonzero((held > 1) & (held <= common * n))].tocsr()
        rare_t = rare.T.tocsr()
        dense = torch.from_numpy(self.profiles[:, np.flatnonzero(held > common * n)].toarray())
        rows, cols, vals = [], [], []
        for start in range(0, n, block):
            stop = min(start + block, n)
            sim = torch.from_numpy((rare[start:stop] @ rare_t).toarray())
            sim += dense[start:stop] @ dense.T
            sim[torch.arange(stop - start), torch.arange(start, stop)] = -1.0  # itself
            value, index = torch.topk(sim, k, dim=1)
            rows.append(np.repeat(np.arange(start, stop), k))
            cols.append(index.numpy().ravel())
            vals.append(value.clamp(min=0).numpy().ravel() ** power)
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, n))

    def parts(self, cols: list[int], names: list[str]) -> dict[str, np.ndarray]:
        """(D, Q) float32 per source for the terms in columns ``cols``: ``annotations``
        (the share of each disease's annotations at or below each term) and ``names``
        among ``relatives``, ``similar``, ``genes``."""
        below = self.descendants[cols].T.astype(np.float32)  # (P, Q)
        own = np.asarray((self.share @ below).todense())  # (D, Q)
        out = {"annotations": own}
        for name in names:
            if name == "relatives":
                out[name] = self.relatives @ own
            elif name == "similar":
                out[name] = self.similar @ own
            elif name == "genes":
                out[name] = self.disease_genes @ np.asarray((self.gene_terms @ below).todense())
        return {name: np.asarray(v, dtype=np.float32) for name, v in out.items()}


def _positions(num_nodes: int, nodes: Tensor) -> Tensor:
    """(N,) each node's position in ``nodes``, -1 for the others."""
    out = torch.full((num_nodes,), -1, dtype=torch.long)
    out[nodes] = torch.arange(len(nodes))
    return out


def _row_stochastic(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    total = np.asarray(m.sum(1)).ravel()
    return (sp.diags(np.where(total > 0, 1 / np.where(total > 0, total, 1), 0)
                     .astype(np.float32)) @ m).tocsr()


def _bool_matrix(rows: Tensor, cols: Tensor, shape: tuple[int, int]) -> sp.csr_matrix:
    data = np.ones(len(rows), dtype=np.int32)
    m = sp.csr_matrix((data, (rows.numpy(), cols.numpy())), shape=shape)
    m.data[:] = 1  # duplicates summed: back to 0/1
    return m


def ancestor_closure(parent: sp.csr_matrix, max_depth: int = 1000) -> sp.csr_matrix:
    """(P, P) 0/1: row c marks c and every ancestor of c, from the child -> parent matrix."""
    n = parent.shape[0]
    closure = sp.identity(n, dtype=np.int32, format="csr")
    frontier = closure
    for _ in range(max_depth):
        frontier = frontier @ parent
        frontier.data[:] = 1
        grown = closure + frontier
        grown.data[:] = 1
        if grown.nnz == closure.nnz:
            return closure
        closure = grown
    raise RunError("the IS_A hierarchy has a cycle deeper than any ontology's")


def candidate_rows(candidates: list[Candidate], names: dict[str, str | None] | None = None
                   ) -> list[dict[str, Any]]:
    """Diagnosis results as rows for a table or JSON."""
    names = names or {}
    rows = []
    for c in candidates:
        rows.append({
            "rank": c.rank, "disease": c.disease, "name": names.get(c.disease),
            "score": round(c.score, 4), "posterior": float(f"{c.posterior:.4g}"),
            "supported": f"{len(c.supported())}/{len(c.support)}",
            "support": [{"phenotype": s.phenotype, "name": names.get(s.phenotype),
                         "probability": float(f"{s.probability:.4g}"), "observed": s.observed,
                         "sources": {k: float(f"{v:.4g}") for k, v in s.sources.items()}}
                        for s in c.support],
        })
    return rows


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    # no test triple of a relation gives NaN metrics; JSON has no NaN
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in metrics.items()}
