"""The hostile-input corpus runs in-process through ``medgen.cli.main`` against the suite's
Neo4j, on a small baseline graph that every malformed case must leave exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance
from medgen.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys, *args: str) -> Result:
    """``medgen ARGS`` in-process; any exception but SystemExit (a user's traceback)
    propagates and fails the test."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    cap = capsys.readouterr()
    return Result(code, cap.out, cap.err)


BASELINE = with_provenance(GraphTables(
    Provenance("hostile-baseline", "1"),
    [NodeTable("Entity", pd.DataFrame({"id": ["a", "b", "c"], "name": ["A", "B", "C"]}))],
    [EdgeTable("TREATS", "Entity", "Entity",
               pd.DataFrame({"start": ["a", "b"], "end": ["b", "c"]}))]))


def snapshot(driver) -> dict:
    """Every node's labels and properties and every relationship, in a stable order.
    No bookmark manager: the suite's bulk-import test replaces the database, which
    leaves execute_query's driver-wide bookmarks pointing past its transactions."""
    nodes = driver.execute_query(
        "MATCH (n) RETURN labels(n) AS l, properties(n) AS p ORDER BY n.id",
        bookmark_manager_=None).records
    rels = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p "
        "ORDER BY a, t, b", bookmark_manager_=None).records
    return {"nodes": [r.data() for r in nodes], "rels": [r.data() for r in rels]}


@pytest.fixture
def hostile(neo4j_server, store, monkeypatch, capsys, tmp_path):
    """The CLI pointed at the suite's server holding the baseline graph; returns
    ``(run, snapshot)``."""
    for name, value in neo4j_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path / "state"))
    store.schema.add_rel_type("TREATS")
    store.write(BASELINE)
    return (lambda *args: run_cli(capsys, *args)), (lambda: snapshot(neo4j_server.driver))


def assert_refused(result: Result, *fragments: str, code: int | None = 1) -> None:
    """Refused cleanly: a non-zero exit (``code`` when given), no traceback, one error line
    (typer's usage errors frame theirs in a box: the message is still one line of it)."""
    assert result.code != 0, result
    if code is not None:
        assert result.code == code, result
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    if result.code == 1:
        assert len(lines) == 1 and lines[0].startswith("error:"), result.err
    text = " ".join(result.err.split())
    for fragment in fragments:
        assert fragment in text, (fragment, result.err)
