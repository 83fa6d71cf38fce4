"""Building the graph from its sources: the compositions that need more than one package.

``kg`` may not import ``molgen``; the approved-drug loader needs the RDKit
boundary, so the two meet here.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kg.bulk import write_bulk_csv
from kg.store import GraphStore, WriteReport
from kg.tables import GraphTables, with_provenance

# Three questions a newcomer can ask the default graph, shown by `medgen run`.
EXAMPLE_QUERIES: list[tuple[str, str, dict]] = [
    (
        "Diseases with the most annotated phenotypes",
        "MATCH (d:Disease)-[:HAS_PHENOTYPE]->(p:Phenotype) "
        "RETURN d.id AS disease, d.name AS name, count(p) AS phenotypes "
        "ORDER BY phenotypes DESC, disease LIMIT 5",
        {},
    ),
    (
        "Genes associated with Marfan syndrome (OMIM:154700)",
        "MATCH (g:Gene)-[:ASSOCIATED_WITH]->(d:Disease {id: $disease}) "
        "RETURN g.symbol AS gene, g.id AS id ORDER BY gene",
        {"disease": "OMIM:154700"},
    ),
    (
        "Diseases annotated with Seizure (HP:0001250) or any of its subterms",
        "MATCH (t:Phenotype)-[:IS_A*0..]->(:Phenotype {id: $term}) "
        "MATCH (d:Disease)-[:HAS_PHENOTYPE]->(t) "
        "RETURN count(DISTINCT d) AS diseases, count(DISTINCT t) AS terms",
        {"term": "HP:0001250"},
    ),
]


def standardise_drug(smiles: str) -> tuple[str, str]:
    """The RDKit boundary, shaped for ``kg.sources.drugs``: (parent SMILES, InChIKey)."""
    from molgen.chem import parent_structure

    parent = parent_structure(smiles)
    return parent.smiles, parent.inchikey


def load_source(name: str, **kwargs) -> GraphTables:
    """One named source as canonical tables with provenance."""
    if name == "hpo":
        from kg.sources.hpo import load_hpo

        tables = load_hpo(kwargs.get("data_dir"))
    elif name == "drugs":
        from kg.sources.drugs import load_approved_drugs

        tables = load_approved_drugs(standardise_drug, kwargs.get("path"))
    else:
        raise ValueError(f"unknown source {name!r}")
    return with_provenance(tables)


def default_sources() -> list[GraphTables]:
    """The default medical knowledge graph: HPO, then ChEMBL approved drugs."""
    return [load_source("hpo"), load_source("drugs")]


@dataclass
class BuildReport:
    written: WriteReport
    seconds: float
    skipped: dict[str, int]
    path: str  # "online" or "bulk"


def build_online(store: GraphStore, sources: list[GraphTables],
                 progress: Callable[[int], None] | None = None,
                 batch_size: int = 5000) -> BuildReport:
    t0 = time.perf_counter()
    report = WriteReport()
    skipped: dict[str, int] = {}
    for tables in sources:
        report.add(store.write(tables, batch_size=batch_size, progress=progress))
        skipped.update({f"{tables.provenance.source}: {k}": v for k, v in tables.skipped.items()})
    return BuildReport(report, time.perf_counter() - t0, skipped, "online")


def build_bulk(server, store: GraphStore, sources: list[GraphTables],
               work_dir: Path | None = None) -> BuildReport:
    """Replace the managed server's database with ``sources`` through neo4j-admin import.

    Stops the server, imports, starts it again and creates the schema's
    constraints, so the result answers the same queries as an online build.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        files = write_bulk_csv(sources, Path(tmp), store.schema)
        server.stop()
        server.import_full(files.nodes, files.relationships)
        server.start()
    store.ensure_schema(sorted({t.label for s in sources for t in s.nodes}))
    counts = store.counts()
    skipped: dict[str, int] = {}
    for tables in sources:
        skipped.update({f"{tables.provenance.source}: {k}": v for k, v in tables.skipped.items()})
    return BuildReport(WriteReport(counts["nodes"], counts["relationships"]),
                       time.perf_counter() - t0, skipped, "bulk")


def total_rows(sources: list[GraphTables]) -> int:
    return sum(len(t) for s in sources for t in [*s.nodes, *s.edges])
