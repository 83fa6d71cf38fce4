"""Running a user's Cypher query and turning its records into plain data."""

from __future__ import annotations

import neo4j
from neo4j.graph import Node, Path, Relationship
from neo4j.time import Date, DateTime, Duration, Time


def plain(value):
    """Graph objects and Neo4j temporal values as JSON-friendly Python values."""
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Path):
        return {"_nodes": [plain(n) for n in value.nodes],
                "_relationships": [plain(r) for r in value.relationships]}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (Date, DateTime, Time, Duration)):
        return value.iso_format()
    return value


def run_cypher(driver: neo4j.Driver, query: str, params: dict | None = None, *,
               write: bool = False, database: str | None = None) -> list[dict]:
    """Run ``query`` in a managed transaction; a read transaction unless ``write``.

    Neo4j rejects a write inside a read transaction, so a read-only call
    cannot change the graph even if the query tries to.
    """
    def work(tx: neo4j.ManagedTransaction) -> list[dict]:
        result = tx.run(query, params or {})
        return [{k: plain(v) for k, v in r.items()} for r in result]

    with driver.session(database=database) as session:
        return (session.execute_write if write else session.execute_read)(work)
