"""What a trained model gives back to the graph: scored predicted links,
node embeddings behind a vector index, and the paths that explain a link.
Everything here goes through :class:`kg.store.GraphStore` and its Cypher
lives in :mod:`kg.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from kg import queries
from kg.cypher import plain
from kg.errors import KGError
from kg.store import GraphStore

EMBEDDING_PROPERTY = "embedding"


@dataclass
class PredictionReport:
    run_id: str
    offered: int  # rows given
    written: int  # rows that became PREDICTED_ links (observed pairs are skipped)


def write_predictions(store: GraphStore, rel_type: str, start_label: str, end_label: str,
                      rows: pd.DataFrame, *, model: str, run_id: str,
                      keep_older_runs: bool = True, batch_size: int = 5000) -> PredictionReport:
    """Write ``rows`` (columns start, end, score, rank) as ``PREDICTED_<rel_type>`` links.

    Idempotent per ``run_id`` (MERGE on the pair and the run); an observed
    ``rel_type`` link between the same pair is never touched nor duplicated.
    With ``keep_older_runs=False`` predictions of other runs are deleted.
    """
    missing = {"start", "end", "score", "rank"} - set(rows.columns)
    if missing:
        raise KGError(f"prediction rows need columns {sorted(missing)}")
    query = queries.merge_predictions(store.schema, rel_type, start_label, end_label)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    payload = [{"start": str(s), "end": str(e), "score": float(sc), "rank": int(rk)}
               for s, e, sc, rk in zip(rows["start"], rows["end"], rows["score"], rows["rank"],
                                       strict=True)]
    written = 0
    with store.driver.session(database=store.database) as s:
        for i in range(0, len(payload), batch_size):
            batch = payload[i : i + batch_size]
            written += s.execute_write(
                lambda tx, b=batch: tx.run(query, rows=b, run_id=run_id, model=model,
                                           created_at=created_at).single()["written"])
        if not keep_older_runs:
            s.run(queries.delete_other_runs(store.schema, rel_type), run_id=run_id).consume()
    return PredictionReport(run_id, len(payload), written)


def write_embeddings(store: GraphStore, label: str, ids: list[str], vectors: np.ndarray,
                     prop: str = EMBEDDING_PROPERTY, batch_size: int = 2000,
                     run_id: str | None = None) -> int:
    """Store one vector per node as ``prop`` with a cosine vector index on it, and the run
    that wrote it as ``<prop>_run_id`` (so removing the run removes its vectors)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(ids) != vectors.shape[0]:
        raise KGError(f"need one vector per id: {len(ids)} ids, vectors of shape {vectors.shape}")
    with store.driver.session(database=store.database) as s:
        # an index built for another size (an earlier run with another dim) would
        # silently skip every new vector: rebuild it for this size
        found = s.run(queries.VECTOR_INDEX_DIMS, name=f"{label.lower()}_{prop}").single()
        if found is not None and found["dims"] != vectors.shape[1]:
            s.run(queries.drop_vector_index(store.schema, label, prop)).consume()
        s.run(queries.vector_index(store.schema, label, prop, vectors.shape[1])).consume()
        s.run("CALL db.awaitIndexes(300)").consume()
        query = queries.set_vectors(store.schema, label, prop)
        written = 0
        for i in range(0, len(ids), batch_size):
            rows = [{"id": str(n), "vector": v.tolist()}
                    for n, v in zip(ids[i : i + batch_size], vectors[i : i + batch_size],
                                    strict=True)]
            written += s.execute_write(
                lambda tx, r=rows: tx.run(query, rows=r, run_id=run_id).single()["written"])
    return written


def find_label(store: GraphStore, node_id: str) -> str:
    """The label of the node keyed ``node_id``; KGError if none or ambiguous."""
    labels = sorted(store.counts()["nodes"])
    for lab in labels:
        store.schema.add_label(lab)  # names read from the database itself
    hits = [r["label"] for r in store.run_read(queries.find_labels(store.schema, labels),
                                                id=node_id)] if labels else []
    if not hits:
        raise KGError(f"no node with id {node_id!r} in the graph")
    if len(hits) > 1:
        raise KGError(f"id {node_id!r} names nodes of several labels: {hits}")
    return hits[0]


def similar(store: GraphStore, node_id: str, k: int = 10,
            prop: str = EMBEDDING_PROPERTY) -> list[dict]:
    """The ``k`` nodes of the same label nearest to ``node_id`` by embedding (cosine)."""
    if k < 1:
        raise KGError("k must be at least 1")
    label = find_label(store, node_id)
    index = f"{label.lower()}_{prop}"
    rows = store.run_read(queries.similar(store.schema, label, prop), id=node_id, k=k,
                          index=index)
    if not rows:
        has = store.run_read("SHOW VECTOR INDEXES YIELD name WHERE name = $n RETURN name",
                             n=index)
        if not has:
            raise KGError(f"no embeddings for {label} nodes yet: train a model and write "
                          "its embeddings first (`medgen kg train`)")
    return rows


def _node_text(node: dict) -> str:
    label = node["_labels"][0] if node.get("_labels") else "?"
    name = node.get("name") or node.get("symbol")
    return f"{label} {node.get('id')}" + (f" ({name})" if name else "")


@dataclass
class Explanation:
    text: str
    nodes: list[dict]
    relationships: list[str]
    inner_degrees: list[int]
    cost: float


def explain(store: GraphStore, head: str, rel_type: str, tail: str,
            limit: int = 5) -> list[Explanation]:
    """The top paths (at most 3 hops) between ``head`` and ``tail``, as text and data."""
    store.schema.rel_type(rel_type)  # unknown relation names fail here, clearly
    head_label, tail_label = find_label(store, head), find_label(store, tail)
    query = queries.explain_paths(store.schema, head_label, tail_label, rel_type)
    out = []
    with store.driver.session(database=store.database) as s:
        records = s.execute_read(lambda tx: list(tx.run(query, head=head, tail=tail,
                                                        limit=limit)))
    for rec in records:
        path = rec["p"]
        nodes = [plain(n) for n in path.nodes]
        parts = [_node_text(nodes[0])]
        rels = []
        for r, nxt in zip(path.relationships, path.nodes[1:], strict=True):
            forward = r.start_node.element_id != nxt.element_id
            rels.append(r.type)
            parts.append(f"-[{r.type}]->" if forward else f"<-[{r.type}]-")
            parts.append(_node_text(plain(nxt)))
        nodes = [{k: v for k, v in n.items() if k != EMBEDDING_PROPERTY} for n in nodes]
        out.append(Explanation(" ".join(parts), nodes, rels, list(rec["degrees"]),
                               float(rec["cost"])))
    return out


def explain_predictions(store: GraphStore, rel_type: str, run_id: str, *, top: int = 10,
                        paths: int = 3) -> list[dict]:
    """Explain a run's ``top`` best predicted links of ``rel_type`` with the graph's paths
    between their ends and store them on the links (``explanation``: path texts, best
    first; ``explanation_costs``). Returns the links with their paths."""
    rows = store.run_read(queries.top_predictions(store.schema, rel_type), run_id=run_id,
                          limit=top)
    for row in rows:
        found = explain(store, row["head"], rel_type, row["tail"], paths)
        row["paths"] = [p.text for p in found]
        row["costs"] = [round(p.cost, 4) for p in found]
        row["explanations"] = found
    payload = [{"link": r["link"], "paths": r["paths"], "costs": r["costs"]} for r in rows]
    if payload:
        with store.driver.session(database=store.database) as s:
            s.execute_write(lambda tx: tx.run(queries.SET_EXPLANATIONS, rows=payload).consume())
    return rows


def delete_run(store: GraphStore, run_id: str) -> None:
    """Remove what the run ``run_id`` wrote: its predicted links, the embeddings it left (a
    later run's are another run's) and its Candidate nodes."""
    with store.driver.session(database=store.database) as s:
        s.run(queries.DELETE_RUN_PREDICTIONS, run_id=run_id).consume()
        s.run(queries.DELETE_RUN_EMBEDDINGS, run_id=run_id).consume()
        s.run(queries.DELETE_RUN_CANDIDATES, run_id=run_id).consume()
