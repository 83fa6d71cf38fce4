"""The runs medgen leaves on disk, listed and removed as one: knowledge-graph completion
runs (``<state>/runs``, and the main job's), imaging runs (``<state>/imaging/runs``, and
the main job's) and the molecular models the main job caches (``<cache>/models``).

Removing a run deletes its folder and what it wrote into Neo4j: its ``PREDICTED_`` links,
the embeddings it left on nodes and its Candidate nodes (matched by run id, so other runs'
stay). The folders of ``medgen mol train --out DIR`` are the user's own and are not listed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from medgen.errors import RunError
from training.paths import state_dir


@dataclass
class Run:
    kind: str  # kg | img | mol
    run_id: str
    path: Path
    date: str
    status: str
    metric: str
    size_mb: float

    def row(self) -> dict[str, object]:
        return {"kind": self.kind, "run": self.run_id, "date": self.date, "status": self.status,
                "metric": self.metric, "size MB": round(self.size_mb, 1), "path": str(self.path)}


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _kg(folder: Path) -> Run:
    job = _json(folder / "job.json")
    ranking = (job.get("result") or {}).get("ranking") or []
    overall = next((r for r in ranking if r.get("relation") == "(all)"), {})
    mrr = overall.get("mrr")
    return Run("kg", job.get("run_id", folder.name), folder, job.get("created_at", ""),
               job.get("status", "?"), f"test MRR {mrr:.3f}" if mrr is not None else "-",
               _size_mb(folder))


def _img(folder: Path) -> Run:
    job = _json(folder / "job.json")
    kid = job.get("best_val_kid")
    return Run("img", folder.name, folder, job.get("started", ""), job.get("status", "?"),
               f"val KID {kid:.4f}" if kid is not None else "-", _size_mb(folder))


def _mol(folder: Path) -> Run:
    info = _json(folder / "DONE")
    loss = info.get("train_loss")
    done = folder / "DONE"
    date = done.stat().st_mtime if done.exists() else folder.stat().st_mtime
    from datetime import UTC, datetime

    return Run("mol", folder.name, folder,
               datetime.fromtimestamp(date, UTC).isoformat(timespec="seconds"),
               "done" if done.exists() else "unfinished",
               f"train loss {loss:.3f}" if loss is not None else "-", _size_mb(folder))


def list_runs() -> list[Run]:
    """Every run on disk, newest first within each kind."""
    state = state_dir()
    found: list[Run] = []
    kg_folders = [*(state / "runs").glob("*/job.json"),
                  *(state / "mainjob").glob("*/completion/*/job.json")]
    found += [_kg(p.parent) for p in kg_folders]
    img_folders = [*(state / "imaging" / "runs").glob("*/job.json"),
                   *(state / "mainjob").glob("*/imaging/*/job.json")]
    found += [_img(p.parent) for p in img_folders]
    from medgen.mainjob import model_cache

    found += [_mol(p) for p in model_cache().glob("vae-*") if p.is_dir()]
    return sorted(found, key=lambda r: (r.kind, r.date), reverse=True)


def find_run(name: str) -> Run:
    """A run by its id, folder name or path."""
    runs = list_runs()
    path = Path(name).expanduser()
    hits = [r for r in runs if r.run_id == name or r.path.name == name
            or (path.exists() and r.path.resolve() == path.resolve())]
    if not hits:
        raise RunError(f"no run {name!r}; `medgen runs list` shows them")
    if len(hits) > 1:
        raise RunError(f"{name!r} names {len(hits)} runs; give its path: "
                       + ", ".join(str(r.path) for r in hits))
    return hits[0]


def remove_run(run: Run, store=None) -> None:
    """Delete ``run``'s folder and, with a ``store``, what it wrote into Neo4j."""
    if store is not None and run.kind == "kg":
        from kg.writeback import delete_run

        delete_run(store, run.run_id)
    shutil.rmtree(run.path)
