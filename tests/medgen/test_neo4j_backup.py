"""`medgen neo4j dump / load / reset` on a managed server of the test's own (it is stopped
and started around each), driven in-process through ``medgen.cli.main``."""

from __future__ import annotations

import io
import stat

import neo4j
import pytest

from medgen.cli import main
from medgen.neo4j_server import ManagedServer, free_port

TRIPLES = ("aspirin\ttreats\theadache\naspirin\tmay cause\tulcer\n"
           "ibuprofen\ttreats\theadache\nO'Brien \"x\"\ttreats\tü\\n\n")


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    """A managed server in its own state folder; the environment points the CLI at it."""
    state = tmp_path_factory.mktemp("state")
    mp = pytest.MonkeyPatch()
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        mp.delenv(name, raising=False)
    mp.setenv("MEDGEN_STATE_DIR", str(state))
    mp.setenv("MEDGEN_NEO4J_PORT", str(free_port()))
    mp.setenv("MEDGEN_NEO4J_HTTP_PORT", str(free_port()))
    mp.setenv("MEDGEN_NEO4J_HEAP", "384m")
    mp.setenv("MEDGEN_NEO4J_PAGECACHE", "32m")
    server = ManagedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        mp.undo()


def snapshot(server: ManagedServer) -> dict:
    """Counts and every node's and relationship's properties, in a stable order."""
    with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", server.password())) as d:
        nodes = d.execute_query(
            "MATCH (n) RETURN labels(n) AS labels, properties(n) AS p ORDER BY n.id").records
        rels = d.execute_query(
            "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p "
            "ORDER BY a, t, b").records
        constraints = d.execute_query(
            "SHOW CONSTRAINTS YIELD labelsOrTypes, properties RETURN labelsOrTypes, properties "
            "ORDER BY labelsOrTypes").records
    return {"nodes": [r.data() for r in nodes], "rels": [r.data() for r in rels],
            "constraints": [r.data() for r in constraints]}


@pytest.mark.neo4j
@pytest.mark.slow
def test_dump_load_reset_round_trip(managed, tmp_path, capsys, monkeypatch):
    triples = tmp_path / "t.tsv"
    triples.write_text(TRIPLES, encoding="utf-8")
    code, _, err = run(capsys, "kg", "load", "triples", str(triples))
    assert code == 0, err
    before = snapshot(managed)
    assert len(before["nodes"]) == 6 and len(before["rels"]) == 4
    assert any(n["p"]["id"] == "O'Brien \"x\"" for n in before["nodes"])

    dump = tmp_path / "graph.dump"
    code, out, err = run(capsys, "neo4j", "dump", str(dump))
    assert code == 0, err
    assert "dumped the graph" in out
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert not dump.with_name("graph.dump.partial").exists()
    assert managed.status().running  # started again after the dump

    # a non-empty database is not replaced without --force
    code, _, err = run(capsys, "neo4j", "load", str(dump))
    assert code == 1 and "holds 6 nodes" in err and "--force" in err
    assert "Traceback" not in err

    # a file that is not a dump is refused before anything is touched
    bogus = tmp_path / "bogus.dump"
    bogus.write_bytes(b"PK\x03\x04 not a dump")
    code, _, err = run(capsys, "neo4j", "load", str(bogus), "--force")
    assert code == 1 and "not a Neo4j 5 dump" in err and len(err.strip().splitlines()) == 1
    assert snapshot(managed) == before

    # the graph changes; load --force brings back the dump exactly
    code, _, err = run(capsys, "cypher", "CREATE (:Entity {id: 'extra'})", "--write")
    assert code == 0, err
    code, _, err = run(capsys, "cypher", "MATCH (n {id: 'aspirin'}) SET n.name = 'changed'",
                       "--write")
    assert code == 0, err
    assert snapshot(managed) != before
    code, out, err = run(capsys, "neo4j", "load", str(dump), "--force")
    assert code == 0, err
    assert snapshot(managed) == before  # counts, every property, the constraints
    assert managed.status().running

    # reset without --yes asks, and "no" deletes nothing
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = run(capsys, "neo4j", "reset")
    assert code != 0 and snapshot(managed) == before
    code, out, err = run(capsys, "neo4j", "reset", "--yes")
    assert code == 0, err
    assert snapshot(managed)["nodes"] == [] and managed.status().running


def test_backup_commands_refuse_an_external_server(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    for args in (("dump", str(tmp_path / "x.dump")), ("reset", "--yes")):
        code, _, err = run(capsys, "neo4j", *args)
        assert code == 1 and "managed server only" in err and "Traceback" not in err
