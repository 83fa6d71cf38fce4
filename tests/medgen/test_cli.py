"""The `medgen` command line, run in-process through ``medgen.cli.main`` against the
real Neo4j the suite starts (and, for the installed entry point, as a subprocess).

Every failure a user can cause must end in exit code 1 (or 2 for a usage error),
one clear line on stderr, no traceback, and nothing written to the graph.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from medgen.cli import main
from medgen.neo4j_server import free_port

HOSTILE_NODE = "'}) DETACH DELETE n //"
HOSTILE_REL = "x`]->() DETACH DELETE n //"
MARKUP = "[/bold] [red]not markup[/red]"  # rich must print it as text, not style it or choke

TRIPLES = "aspirin\ttreats\theadache\naspirin\tmay cause\tulcer\nibuprofen\ttreats\theadache\n"
TRIPLES_COUNTS = {"nodes": {"Entity": 4}, "relationships": {"MAY_CAUSE": 1, "TREATS": 2}}
EMPTY = {"nodes": {}, "relationships": {}}


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys, *args: str) -> Result:
    """``medgen ARGS`` in-process. An exception other than SystemExit (a traceback for
    the user) propagates and fails the test."""
    capsys.readouterr()  # drop anything printed before
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:"), result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def cli_env(neo4j_server, monkeypatch):
    """Point the CLI at the suite's server."""
    for name, value in neo4j_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    return neo4j_server


@pytest.fixture
def cli(cli_env, store, capsys):
    """``cli(*args)``: run medgen against an empty database."""
    return lambda *args: run_cli(capsys, *args)


def stats(cli) -> dict:
    """Counts per label and type; the per-pattern breakdown must add up to the type counts."""
    result = cli("kg", "stats", "--format", "json")
    assert result.code == 0, result
    counts = json.loads(result.out)
    per_type: dict[str, int] = {}
    for p in counts.pop("patterns"):
        per_type[p["type"]] = per_type.get(p["type"], 0) + p["count"]
    assert per_type == counts["relationships"]
    return counts


def query_json(cli, query: str, *params: str) -> list[dict]:
    args = ["cypher", query, "--format", "json"]
    for p in params:
        args += ["--param", p]
    result = cli(*args)
    assert result.code == 0, result
    return json.loads(result.out)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# help ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["neo4j", "kg", "cypher", "run", "knowledge graph"]),
        (["neo4j"], ["install", "start", "stop", "status"]),
        (["kg"], ["build", "stats", "export", "load"]),
        (["kg", "load"], ["hpo", "drugs", "triples", "hetionet", "csv", "idempotent"]),
        (["kg", "load", "triples"], ["--relation", "--entity-label", "head<TAB>relation<TAB>tail"]),
        (["cypher"], ["--param", "--write", "--format"]),
    ],
)
def test_help_exits_0_and_names_the_commands(capsys, args, words):
    result = run_cli(capsys, *args, "--help")
    assert result.code == 0, result
    assert "Usage" in result.out
    for word in words:
        assert word in result.out, word


def test_importing_the_cli_stays_light():
    # cli.py promises heavy imports stay inside the commands, so that --help is instant
    code = ("import sys, medgen.cli; "
            "print(sorted(m for m in ('torch', 'lightning', 'pandas', 'neo4j') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _run_entry_point(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it (``python -m`` if not installed)."""
    script = Path(sys.executable).with_name("medgen")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "medgen.cli"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}, **env}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          timeout=120)


# kg load triples -----------------------------------------------------------------------
@pytest.mark.neo4j
def test_load_triples_counts_exact_and_rerun_is_idempotent(cli, tmp_path):
    path = write(tmp_path / "train.txt", TRIPLES)
    first = cli("kg", "load", "triples", str(path))
    assert first.code == 0, first
    assert "TREATS" in first.out and "Entity" in first.out
    assert stats(cli) == TRIPLES_COUNTS
    again = cli("kg", "load", "triples", str(path))
    assert again.code == 0, again
    assert stats(cli) == TRIPLES_COUNTS
    rows = query_json(cli, "MATCH (a)-[r:MAY_CAUSE]->(b) RETURN a.id AS a, r.relation AS rel, "
                      "b.id AS b, r.source AS source")
    assert rows == [{"a": "aspirin", "rel": "may cause", "b": "ulcer", "source": "triples"}]


@pytest.mark.neo4j
def test_load_several_triples_files_together(cli, tmp_path):
    train = write(tmp_path / "train.txt", "a\tr\tb\n")
    test = write(tmp_path / "test.txt", "b\tr\tc\na\tr\tb\n")  # one duplicate across files
    result = cli("kg", "load", "triples", str(train), str(test), "--source", "bench")
    assert result.code == 0, result
    assert "duplicate" in result.out
    assert stats(cli) == {"nodes": {"Entity": 3}, "relationships": {"R": 2}}


@pytest.mark.neo4j
@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (TRIPLES.replace("ibuprofen\ttreats\theadache", "ibuprofen\ttreats"), 3,
         "expected 3 fields"),
        ("", 1, "file is empty"),
        (TRIPLES.encode() + b"caf\xe9\ttreats\theadache\n", 4, "not valid UTF-8"),
        (TRIPLES + "a\t\tb\n", 4, "empty required field"),
        (TRIPLES + "a\t%%%\tb\n", 4, "cannot be made into a relationship type"),
        (TRIPLES + "a\tb", 4, "truncated last line"),
    ],
    ids=["two-fields", "empty", "not-utf8", "empty-field", "no-type", "truncated"],
)
def test_bad_triples_file_exits_1_names_file_and_line_writes_nothing(
        cli, tmp_path, content, line, fragment):
    path = tmp_path / "bad.tsv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(path, content)
    result = cli("kg", "load", "triples", str(path))
    assert_one_line_error(result, f"{path}:{line}:", fragment)
    assert stats(cli) == EMPTY
    write(path, TRIPLES)  # the fix
    assert cli("kg", "load", "triples", str(path)).code == 0
    assert stats(cli) == TRIPLES_COUNTS


@pytest.mark.neo4j
def test_second_file_bad_writes_nothing_of_the_first(cli, tmp_path):
    good = write(tmp_path / "train.txt", TRIPLES)
    bad = write(tmp_path / "valid.txt", "x\ty\n")
    result = cli("kg", "load", "triples", str(good), str(bad))
    assert_one_line_error(result, f"{bad}:1:")
    assert stats(cli) == EMPTY


@pytest.mark.neo4j
def test_hostile_relationship_type_is_refused_before_any_write(cli, tmp_path):
    path = write(tmp_path / "t.tsv", "a\ttreats\tb\n")
    result = cli("kg", "load", "triples", str(path), "--relation", f"treats={HOSTILE_REL}")
    assert_one_line_error(result, "relationship type", "not allowed")
    assert stats(cli) == EMPTY
    hostile_label = cli("kg", "load", "triples", str(path), "--entity-label", "E`) DELETE (n")
    assert_one_line_error(hostile_label, "label", "not allowed")
    assert stats(cli) == EMPTY
    assert cli("kg", "load", "triples", str(path), "--relation", "treats=TREATS").code == 0
    assert stats(cli) == {"nodes": {"Entity": 2}, "relationships": {"TREATS": 1}}


@pytest.mark.neo4j
def test_hostile_relation_text_is_mapped_and_kept_verbatim(cli, tmp_path):
    path = write(tmp_path / "t.tsv", f"a\t{HOSTILE_REL}\tb\n")
    result = cli("kg", "load", "triples", str(path), "--relation", f"{HOSTILE_REL}=LINKS")
    assert result.code == 0, result
    assert query_json(cli, "MATCH ()-[r]->() RETURN type(r) AS t, r.relation AS rel") == [
        {"t": "LINKS", "rel": HOSTILE_REL}]
    # unmapped, the same text becomes a plain identifier, never Cypher
    assert cli("cypher", "MATCH (n) DETACH DELETE n", "--write").code == 0
    assert cli("kg", "load", "triples", str(path)).code == 0
    assert stats(cli) == {"nodes": {"Entity": 2}, "relationships": {"X_DETACH_DELETE_N": 1}}


@pytest.mark.neo4j
def test_relation_missing_from_the_map_names_file_and_line(cli, tmp_path):
    path = write(tmp_path / "t.tsv", TRIPLES)
    result = cli("kg", "load", "triples", str(path), "--relation", "treats=TREATS")
    assert_one_line_error(result, f"{path}:2:", "'may cause'", "not in the relation map")
    assert stats(cli) == EMPTY


@pytest.mark.neo4j
@pytest.mark.parametrize("kind", ["ServiceUnavailable", "MedgenError", "DriverError"])
def test_an_error_whose_text_breaks_lines_is_still_one_line(capsys, monkeypatch, kind):
    """The driver's refused connection is two lines of text (seen when Neo4j was killed
    under `kg load`); stderr still gets one."""
    import neo4j.exceptions

    import medgen.cli
    from training.errors import MedgenError

    cls = MedgenError if kind == "MedgenError" else getattr(neo4j.exceptions, kind)
    text = ("Couldn't connect to 127.0.0.1:7 (resolved to ('127.0.0.1:7',)):\n"
            "Failed to establish connection (reason [Errno 111] Connection refused)")

    def fail(**kwargs):
        raise cls(text)
    monkeypatch.setattr(medgen.cli, "app", fail)
    assert_one_line_error(run_cli(capsys, "kg", "stats"), "Couldn't connect",
                          "Connection refused")


def test_error_text_with_rich_markup_is_printed_verbatim(cli, tmp_path):
    path = write(tmp_path / "t.tsv", f"a\t{MARKUP}\tb\n")
    result = cli("kg", "load", "triples", str(path), "--relation", "other=R")
    assert_one_line_error(result, MARKUP)


@pytest.mark.neo4j
def test_hostile_node_names_are_stored_verbatim(cli, tmp_path):
    names = [HOSTILE_NODE, "back`tick", 'dou"ble', "sin'gle", "ünïcode ✓", MARKUP, "L" * 200]
    lines = "".join(f"{name}\tlinks\thub\n" for name in names)
    path = write(tmp_path / "hostile.tsv", lines)
    assert cli("kg", "load", "triples", str(path)).code == 0
    assert stats(cli) == {"nodes": {"Entity": len(names) + 1},
                          "relationships": {"LINKS": len(names)}}
    rows = query_json(cli, "MATCH (n:Entity)-[:LINKS]->(:Entity {id: 'hub'}) "
                      "RETURN n.id AS id, n.name AS name ORDER BY id")
    assert rows == [{"id": n, "name": n} for n in sorted(names)]
    one = query_json(cli, "MATCH (n:Entity {id: $id}) RETURN n.name AS name", f"id={HOSTILE_NODE}")
    assert one == [{"name": HOSTILE_NODE}]
    table = cli("cypher", "MATCH (n:Entity {id: $id}) RETURN n.id AS id", "-p", f"id={MARKUP}")
    assert table.code == 0, table
    assert MARKUP in table.out


def test_missing_triples_file_is_a_usage_error(capsys, tmp_path):
    result = run_cli(capsys, "kg", "load", "triples", str(tmp_path / "nope.tsv"))
    assert result.code == 2, result
    # click's message in rich's panel, which wraps it at the terminal's width
    message = " ".join(result.err.replace("│", " ").split())
    assert "does not exist" in message and "Traceback" not in result.err


# kg load csv / hetionet ------------------------------------------------------------------
@pytest.mark.neo4j
def test_csv_with_missing_mapped_column_exits_1_and_rerun_completes(cli, tmp_path):
    nodes = write(tmp_path / "nodes.csv", "id,name\nD1,Alpha\nD2,\"Be, ta\"\n")
    edges = write(tmp_path / "edges.csv", "src,dst,weight\nD1,D2,0.5\n")
    args = ["kg", "load", "csv", "--nodes", str(nodes), "--edges", str(edges),
            "--label", "Disease", "--rel-type", "RELATED", "--edge-col", "start=src"]
    result = cli(*args, "--node-col", "id=identifier", "--edge-col", "end=dst")
    assert_one_line_error(result, f"{nodes}:1:", "missing columns ['identifier']")
    assert stats(cli) == EMPTY
    result = cli(*args, "--node-col", "id=id", "--edge-col", "end=target")
    assert_one_line_error(result, f"{edges}:1:", "missing columns ['target']")
    assert stats(cli) == EMPTY
    assert cli(*args, "--node-col", "id=id", "--edge-col", "end=dst").code == 0
    assert stats(cli) == {"nodes": {"Disease": 2}, "relationships": {"RELATED": 1}}
    assert query_json(cli, "MATCH (a)-[r:RELATED]->(b) RETURN b.name AS name, r.weight AS w") == [
        {"name": "Be, ta", "w": "0.5"}]


def test_csv_without_a_label_is_a_usage_error(capsys, tmp_path):
    nodes = write(tmp_path / "nodes.csv", "id\nD1\n")
    result = run_cli(capsys, "kg", "load", "csv", "--nodes", str(nodes))
    assert result.code == 2, result
    assert "label" in result.err and "Traceback" not in result.err


def test_csv_without_files_is_a_usage_error(capsys):
    result = run_cli(capsys, "kg", "load", "csv")
    assert result.code == 2, result
    assert "--nodes" in result.err


@pytest.mark.neo4j
def test_hetionet_unknown_kind_exits_1_and_rerun_completes(cli, tmp_path):
    header = "id\tname\tkind\n"
    path = write(tmp_path / "nodes.tsv", header + "Disease::DOID:1\tAlpha\tDisease\n"
                 "Wizard::W1\tMerlin\tWizard\n")
    result = cli("kg", "load", "hetionet", str(path))
    assert_one_line_error(result, f"{path}:3:", "unknown kind 'Wizard'")
    assert stats(cli) == EMPTY
    write(path, header + "Disease::DOID:1\tAlpha\tDisease\nGene::7\tTP\tGene\n")
    edges = write(tmp_path / "edges.sif",
                  "source\tmetaedge\ttarget\nDisease::DOID:1\tDaG\tGene::7\n")
    assert cli("kg", "load", "hetionet", str(path), str(edges)).code == 0
    assert stats(cli) == {"nodes": {"Disease": 1, "Gene": 1},
                          "relationships": {"ASSOCIATES_DaG": 1}}
    assert query_json(cli, "MATCH (g:Gene) RETURN g.id AS id") == [{"id": "NCBIGene:7"}]


# cypher ----------------------------------------------------------------------------------
@pytest.mark.neo4j
def test_cypher_params_are_json_when_they_parse_else_strings(cli):
    rows = query_json(
        cli, "RETURN $n + 1 AS n, $f AS f, $s AS s, $plain AS plain, $ids AS ids, "
        "$flag AS flag, $none IS NULL AS none, $eq AS eq",
        "n=41", "f=1.5", 's="007"', "plain=hello world", 'ids=["a", 2]', "flag=true",
        "none=null", "eq=a=b")
    assert rows == [{"n": 42, "f": 1.5, "s": "007", "plain": "hello world", "ids": ["a", 2],
                     "flag": True, "none": True, "eq": "a=b"}]


def test_cypher_param_without_equals_is_a_usage_error(capsys):
    result = run_cli(capsys, "cypher", "RETURN 1", "--param", "oops")
    assert result.code == 2, result
    assert "NAME=VALUE" in result.err


@pytest.mark.neo4j
def test_cypher_output_formats(cli, tmp_path):
    assert cli("kg", "load", "triples", str(write(tmp_path / "t.tsv", TRIPLES))).code == 0
    query = ("MATCH (a)-[r:TREATS]->(b) RETURN a.id AS drug, b.id AS target, "
             "[a.id, b.id] AS pair, r AS rel ORDER BY drug")
    as_json = query_json(cli, query)
    assert [(r["drug"], r["target"], r["pair"]) for r in as_json] == [
        ("aspirin", "headache", ["aspirin", "headache"]),
        ("ibuprofen", "headache", ["ibuprofen", "headache"])]
    assert as_json[0]["rel"]["_type"] == "TREATS"
    assert as_json[0]["rel"]["relation"] == "treats"

    as_csv = cli("cypher", query, "--format", "csv")
    assert as_csv.code == 0, as_csv
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert [r["drug"] for r in rows] == ["aspirin", "ibuprofen"]
    assert json.loads(rows[1]["pair"]) == ["ibuprofen", "headache"]
    assert json.loads(rows[0]["rel"])["_type"] == "TREATS"

    table = cli("cypher", query, "--format", "table")
    assert table.code == 0, table
    assert "drug" in table.out and "aspirin" in table.out and "ibuprofen" in table.out

    empty = cli("cypher", "MATCH (n:Nothing) RETURN n", "--format", "json")
    assert empty.code == 0 and json.loads(empty.out) == []
    assert "(no rows)" in cli("cypher", "MATCH (n:Nothing) RETURN n").out


@pytest.mark.neo4j
def test_cypher_write_needs_the_write_flag(cli):
    query = "CREATE (:Entity {id: $id, name: $id})"
    refused = cli("cypher", query, "-p", "id=new")
    assert_one_line_error(refused, "--write", "nothing was changed")
    assert stats(cli) == EMPTY
    allowed = cli("cypher", query, "-p", "id=new", "--write")
    assert allowed.code == 0, allowed
    assert stats(cli) == {"nodes": {"Entity": 1}, "relationships": {}}
    delete = cli("cypher", "MATCH (n) DETACH DELETE n")
    assert_one_line_error(delete, "--write")
    assert stats(cli) == {"nodes": {"Entity": 1}, "relationships": {}}


@pytest.mark.neo4j
def test_cypher_syntax_error_shows_neo4j_code(cli):
    result = cli("cypher", "MATCH (n RETURN n")
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert result.err.startswith("error:")
    assert "Neo.ClientError.Statement.SyntaxError" in result.err
    missing = cli("cypher", "RETURN $x")
    assert missing.code == 1 and "Neo.ClientError.Statement.ParameterMissing" in missing.err


# connection problems ---------------------------------------------------------------------
def test_unreachable_server_is_one_clear_line(capsys, monkeypatch):
    port = free_port()  # bound and released: nothing listens there
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("NEO4J_PASSWORD", "whatever")
    result = run_cli(capsys, "kg", "stats")
    assert_one_line_error(result, f"127.0.0.1:{port}", "not reachable", "NEO4J_URI")


@pytest.mark.neo4j
def test_wrong_password_is_one_clear_line(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", cli_env.password + "-wrong")
    result = run_cli(capsys, "cypher", "RETURN 1")
    assert_one_line_error(result, "refused the credentials", "NEO4J_PASSWORD")


@pytest.mark.neo4j
def test_unknown_database_is_one_clear_line(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("NEO4J_DATABASE", "nosuchdb")
    result = run_cli(capsys, "kg", "stats")
    assert_one_line_error(result, "Neo.ClientError.Database.DatabaseNotFound", "nosuchdb")


def test_uri_without_password_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    result = run_cli(capsys, "kg", "stats")
    assert_one_line_error(result, "NEO4J_URI is set but NEO4J_PASSWORD is not")


def test_bad_port_setting_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("MEDGEN_NEO4J_PORT", "seventeen")
    result = run_cli(capsys, "neo4j", "status")
    assert_one_line_error(result, "MEDGEN_NEO4J_PORT", "'seventeen'")


@pytest.mark.neo4j
def test_entry_point_reports_bad_input_without_traceback(cli_env, store, tmp_path):
    path = write(tmp_path / "bad.tsv", "a\tb\n")
    proc = _run_entry_point(cli_env.env(), "kg", "load", "triples", str(path))
    assert proc.returncode == 1, proc
    assert proc.stderr == (f"error: {path}:1: expected 3 fields (head, relation, tail), "
                           "found 2 (fields are separated by a single tab)\n")
    assert proc.stdout == ""
    assert store.counts() == EMPTY


def test_entry_point_unreachable_routing_uri_is_one_line():
    # a neo4j:// (routing) URI makes the driver log its own failure; only ours may show
    uri = f"neo4j://127.0.0.1:{free_port()}"
    proc = _run_entry_point({"NEO4J_URI": uri, "NEO4J_PASSWORD": "x"}, "kg", "stats")
    assert proc.returncode == 1, proc
    assert proc.stderr == (f"error: Neo4j at {uri} is not reachable: check NEO4J_URI and "
                           "that the server is up\n")


# neo4j status ----------------------------------------------------------------------------
@pytest.mark.neo4j
def test_status_reports_the_external_server(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("NEO4J_DATABASE", "neo4j")
    result = run_cli(capsys, "neo4j", "status", "--format", "json")
    assert result.code == 0, result
    assert json.loads(result.out) == [{"managed": False, "uri": cli_env.uri,
                                       "user": cli_env.user, "database": "neo4j"}]
    table = run_cli(capsys, "neo4j", "status")
    assert table.code == 0 and "managed: False" in table.out and cli_env.uri in table.out


def test_status_of_a_managed_server_never_started(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path))
    port = free_port()
    monkeypatch.setenv("MEDGEN_NEO4J_PORT", str(port))
    result = run_cli(capsys, "neo4j", "status", "--format", "json")
    assert result.code == 0, result
    [info] = json.loads(result.out)
    assert info["managed"] is True and info["state"] == "stopped" and info["pid"] is None
    assert info["uri"] == f"bolt://127.0.0.1:{port}"
    assert info["home"] == str(tmp_path / "neo4j")
    stop = run_cli(capsys, "neo4j", "stop")
    assert stop.code == 0 and stop.out.strip() == "not running"


def test_bulk_build_refuses_an_external_server(capsys, monkeypatch):
    # checked before anything is loaded or connected
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    result = run_cli(capsys, "kg", "build", "--bulk")
    assert_one_line_error(result, "--bulk needs the managed server")


@pytest.mark.parametrize(("value", "shown"), [
    (0.8916146755218506, "0.8916"), (2.0, "2"), (123456.789, "123456.789"),
    (1.5e-05, "1.5e-05"), (0.0, "0.0"), (3, "3"), ("x[/b]", "x[/b]"), ([1, "a"], '[1, "a"]'),
    (2.5e7, "2.5e+07")])
def test_table_cells_shorten_floats_only(value, shown):
    from medgen.cli.output import cell

    assert cell(value) == shown
