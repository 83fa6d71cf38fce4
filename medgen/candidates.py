"""Generated molecules into the graph: ``Candidate`` nodes ``ANALOG_OF`` approved drugs.

Composed here because ``molgen`` (molecules) and ``kg`` (the graph) do not
import each other. Each candidate becomes a ``Candidate`` node keyed by its
InChIKey, with its canonical SMILES, properties, filter flags and the run it
came from; it is joined by ``ANALOG_OF {tanimoto, rank}`` to the ``Compound``
nodes most similar to it (Tanimoto on :func:`molgen.chem.morgan_fingerprint`,
the project's one fingerprint, MOSES's Morgan r=2 1024 bits), the best
``top_k`` among those at or above ``min_tanimoto``. Writes go through
:meth:`kg.store.GraphStore.write`, so they are batched, idempotent (MERGE on
the key) and limited to the schema's labels and types.

Then, e.g.::

    MATCH (c:Candidate)-[r:ANALOG_OF]->(d:Compound)
    RETURN c.smiles, d.name, r.tanimoto ORDER BY r.tanimoto DESC
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kg.store import GraphStore, WriteReport
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance
from medgen.errors import RunError
from molgen import chem
from molgen.errors import InvalidMolecule

log = logging.getLogger(__name__)

# The only Cypher of this module (labels fixed, values as parameters).
DRUG_SMILES = (
    "MATCH (d:Compound) WHERE d.smiles IS NOT NULL "
    "RETURN d.id AS id, d.name AS name, d.smiles AS smiles ORDER BY d.id"
)
CANDIDATES_WITH_DRUGS = (
    "MATCH (c:Candidate)-[r:ANALOG_OF]->(d:Compound) "
    "RETURN c.id AS candidate, c.smiles AS smiles, d.id AS drug, d.name AS drug_name, "
    "r.tanimoto AS tanimoto ORDER BY c.id, r.rank"
)
SOURCE = "medgen mol generate"
_BLOCK = 4096  # candidates per similarity block: 4096 x 4000 drugs x 4 bytes = 66 MB


@dataclass
class LinkReport:
    candidates: int
    links: int
    drugs: int  # Compound nodes with a usable SMILES
    skipped_drugs: list[str] = field(default_factory=list)  # ids whose SMILES RDKit refused
    written: WriteReport = field(default_factory=WriteReport)


def nearest_drugs(candidates: Sequence[str], drugs: pd.DataFrame, *, min_tanimoto: float = 0.4,
                  top_k: int = 1) -> pd.DataFrame:
    """For each candidate SMILES, its ``top_k`` most similar drugs at >= ``min_tanimoto``.

    ``drugs`` has ``id`` and ``smiles`` columns (valid SMILES). Returns
    ``start`` (candidate index), ``end`` (drug id), ``tanimoto``, ``rank``
    (1 = nearest), from :func:`molgen.chem.tanimoto_matrix`, computed
    ``_BLOCK`` candidates at a time so that memory stays bounded for large
    candidate sets.
    """
    if not 0 <= min_tanimoto <= 1 or top_k < 1:
        raise ValueError(f"need 0 <= min_tanimoto <= 1 and top_k >= 1, got {min_tanimoto}, "
                         f"{top_k}")
    columns = ["start", "end", "tanimoto", "rank"]
    if not len(candidates) or drugs.empty:
        return pd.DataFrame(columns=columns)
    drug_mols = [chem.to_mol(s) for s in drugs["smiles"]]
    ids = drugs["id"].to_numpy()
    k = min(top_k, len(drug_mols))
    frames = []
    for lo in range(0, len(candidates), _BLOCK):
        sim = chem.tanimoto_matrix(candidates[lo:lo + _BLOCK], drug_mols)  # (block, drugs)
        order = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (block, k)
        best = np.take_along_axis(sim, order, axis=1)
        rows, ranks = np.nonzero(best >= min_tanimoto)
        frames.append(pd.DataFrame({"start": rows + lo, "end": ids[order[rows, ranks]],
                                    "tanimoto": best[rows, ranks].astype(float),
                                    "rank": ranks + 1}, columns=columns))
    return pd.concat(frames, ignore_index=True)


def read_drugs(store: GraphStore) -> tuple[pd.DataFrame, list[str]]:
    """Compound nodes with a SMILES RDKit accepts, and the ids of those it refuses."""
    rows = store.run_read(DRUG_SMILES)
    good, bad = [], []
    for r in rows:
        try:
            good.append({"id": r["id"], "name": r["name"],
                         "smiles": chem.canonical_smiles(r["smiles"])})
        except (InvalidMolecule, TypeError):
            bad.append(r["id"])
    if bad:
        log.warning("%d Compound node(s) have SMILES RDKit refuses; skipped: %s", len(bad),
                    ", ".join(bad[:5]))
    return pd.DataFrame(good, columns=["id", "name", "smiles"]), bad


_NODE_COLUMNS_LEFT_OUT = ("start",)


def candidate_graph(table: pd.DataFrame, drugs: pd.DataFrame, *, run_id: str,
                    min_tanimoto: float = 0.4, top_k: int = 1) -> GraphTables:
    """``Candidate`` nodes from a :func:`molgen.export.candidate_table` and their links."""
    if table.empty:
        raise RunError("no candidates to link")
    missing = {"id", "smiles"} - set(table.columns)
    if missing:
        raise RunError(f"the candidate table lacks column(s) {sorted(missing)}")
    nodes = table.drop(columns=[c for c in _NODE_COLUMNS_LEFT_OUT if c in table.columns])
    nodes = nodes.assign(run_id=table["run_id"] if "run_id" in table.columns else run_id)
    links = nearest_drugs(table["smiles"].tolist(), drugs, min_tanimoto=min_tanimoto,
                          top_k=top_k)
    links["start"] = table["id"].to_numpy()[links["start"].to_numpy(dtype=int)]
    tables = GraphTables(
        provenance=Provenance(source=SOURCE, version=run_id),
        nodes=[NodeTable("Candidate", nodes.reset_index(drop=True))],
        edges=[EdgeTable("ANALOG_OF", "Candidate", "Compound", links)],
    )
    return with_provenance(tables)


def link_candidates(store: GraphStore, table: pd.DataFrame, *, run_id: str,
                    min_tanimoto: float = 0.4, top_k: int = 1) -> LinkReport:
    """Write the candidates and their ``ANALOG_OF`` links to the nearest drugs in ``store``."""
    drugs, bad = read_drugs(store)
    if drugs.empty:
        raise RunError("the graph holds no Compound node with a SMILES to link candidates to; "
                       "load approved drugs first (`medgen kg load drugs`)")
    tables = candidate_graph(table, drugs, run_id=run_id, min_tanimoto=min_tanimoto,
                             top_k=top_k)
    written = store.write(tables)
    return LinkReport(candidates=len(tables.nodes[0]), links=len(tables.edges[0]),
                      drugs=len(drugs), skipped_drugs=bad, written=written)


def candidates_with_drugs(store: GraphStore) -> list[dict]:
    """Every candidate with its linked drugs and Tanimoto, nearest first."""
    return store.run_read(CANDIDATES_WITH_DRUGS)


__all__ = ["LinkReport", "candidate_graph", "candidates_with_drugs", "link_candidates",
           "nearest_drugs", "read_drugs"]
