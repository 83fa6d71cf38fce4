"""A finished `kg train` run applied to the graph as it is now: predictions for any
node (`medgen kg predict`, new nodes included) and, for path models, the paths that
carried a prediction (`medgen kg explain --run`).

Application glue only: it reads the run folder and the database; the model logic is
in ``kg.linkpred.inductive`` and ``kg.linkpred.explain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from kg.export import export_hetero
from kg.linkpred import LinkPredictionTask, TripleGraph
from kg.linkpred.explain import explain_paths
from kg.linkpred.inductive import Partner, predict_partners
from kg.store import GraphStore
from kg.writeback import write_predictions
from medgen.errors import RunError
from medgen.kg_jobs import MODEL_FILE, PREDICTED_PREFIX, SPLIT_DIR, _model_name, read_job


def load_run(run_dir: Path) -> tuple[LinkPredictionTask, dict[str, Any]]:
    """The run's best model, attached to its own split, and its job record."""
    run_dir = Path(run_dir)
    job = read_job(run_dir)
    model = run_dir / MODEL_FILE
    if not model.exists():
        raise RunError(f"run {run_dir} has not finished training (no {MODEL_FILE}): resume "
                       f"it with `medgen kg train --resume --out {run_dir}`")
    task = LinkPredictionTask.load_from_checkpoint(model, map_location="cpu")
    task.attach(TripleGraph.from_triples_dir(run_dir / SPLIT_DIR)).eval()
    return task, job


@dataclass
class GraphNow:
    node_ids: list[str]
    labels: list[str]  # each node's label
    triples: torch.Tensor  # (E, 3) over node_ids, relations in the run's order


def graph_now(store: GraphStore, task: LinkPredictionTask, job: dict[str, Any]) -> GraphNow:
    """The run's labels and relations as they are in Neo4j now (new nodes and links
    included; ``PREDICTED_`` links never)."""
    relations = list(task.config.relations)
    present = set(store.counts()["relationships"])
    labels = sorted(job["graph"]["nodes"])
    for label in labels:
        store.schema.add_label(label)  # names read from the run, checked as identifiers
    export = export_hetero(store, labels=labels,
                           rel_types=[r for r in relations if r in present] or None)
    offset, ids, node_labels = {}, [], []
    for label in sorted(export.id_maps):
        offset[label] = len(ids)
        ids.extend(export.id_maps[label])
        node_labels.extend([label] * len(export.id_maps[label]))
    parts = [torch.empty(0, 3, dtype=torch.long)]
    for src, rel, dst in export.data.edge_types:
        if rel not in relations:
            continue
        ei = export.data[src, rel, dst].edge_index
        parts.append(torch.stack([ei[0] + offset[src],
                                  torch.full((ei.size(1),), relations.index(rel)),
                                  ei[1] + offset[dst]], 1))
    return GraphNow(ids, node_labels, torch.cat(parts))


def _answer_types(task: LinkPredictionTask, relation: int, as_tail: bool) -> set[str]:
    assert task.sampler is not None and task.graph is not None
    mask = (task.sampler.domain if as_tail else task.sampler.range)[relation]
    return {task.graph.node_types[i] for i in mask.nonzero().squeeze(1).tolist()}


def predict_node(store: GraphStore, run_dir: Path, node: str, relation: str, k: int = 10, *,
                 as_tail: bool = False, write: bool = False) -> tuple[list[Partner], int]:
    """The ``k`` best partners of ``node`` (a head of ``relation``, or its tail with
    ``as_tail``) in the graph now; with ``write`` they are written as ``PREDICTED_``
    links of the run. Returns the partners and the number of links written."""
    task, job = load_run(run_dir)
    assert task.graph is not None
    if relation not in task.config.relations:
        raise RunError(f"the run did not learn {relation!r}; it learnt "
                       f"{', '.join(task.config.relations)}")
    now = graph_now(store, task, job)
    if node not in set(now.node_ids):
        raise RunError(f"no node {node!r} with one of the run's labels "
                       f"({', '.join(sorted(set(now.labels)))}) in the graph")
    r = task.graph.relation_index(relation)
    allowed = _answer_types(task, r, as_tail)
    candidates = torch.tensor([label in allowed for label in now.labels])
    partners = predict_partners(task, now.node_ids, now.triples, node, relation, k,
                                as_tail=as_tail, candidates=candidates)
    written = 0
    if write and partners:
        label_of = dict(zip(now.node_ids, now.labels, strict=True))
        rows = pd.DataFrame([{"start": p.node if as_tail else node,
                              "end": node if as_tail else p.node,
                              "score": p.probability, "rank": p.rank} for p in partners])
        starts = rows["start"].map(label_of)
        ends = rows["end"].map(label_of)
        for (start, end), part in rows.groupby([starts, ends], sort=True):
            written += write_predictions(store, relation, start, end, part.reset_index(
                drop=True), model=_model_name(task.config), run_id=job["run_id"]).written
    return partners, written


def is_path_run(run_dir: Path) -> bool:
    """Does the run's model come with path explanations (a path encoder)?"""
    job = read_job(run_dir)
    return bool(job.get("config", {}).get("model", {}).get("encoder") == "nbfnet")


def explain_with_run(run_dir: Path, head: str, relation: str, tail: str, limit: int = 5
                     ) -> list[dict[str, Any]]:
    """The heaviest paths of the run's training graph behind its score of
    ``head -[relation]-> tail``, with their weights (a path model's runs only)."""
    task, _ = load_run(run_dir)
    graph = task.graph
    assert graph is not None
    index = graph.node_index()
    missing = [n for n in (head, tail) if n not in index]
    if missing:
        raise RunError(f"{', '.join(missing)} not in the run's graph (a node added after "
                       "training has no paths there; `medgen kg predict` scores it)")
    r = graph.relation_index(relation)
    with torch.no_grad():
        emb = task.embed()
    paths = explain_paths(task.model, emb, index[head], r, index[tail], k=limit)
    with torch.no_grad():
        score = task.model.score(emb, torch.tensor([index[head]]), torch.tensor([r]),
                                 torch.tensor([index[tail]]))
        probability = float(task.model.probability(score)[0])
    return [{"rank": i, "path": p.text(graph.node_ids, graph.relations),
             "hops": len(p.relations), "weight": round(p.weight, 6),
             "edge_weights": [round(w, 6) for w in p.edge_weights],
             "probability": round(probability, 6)}
            for i, p in enumerate(paths, start=1)]


__all__ = ["GraphNow", "PREDICTED_PREFIX", "explain_with_run", "graph_now", "is_path_run",
           "load_run", "predict_node"]
