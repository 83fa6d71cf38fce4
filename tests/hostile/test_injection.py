"""Twenty injection strings in every position a user's string reaches Cypher:

- as node ids, names and property values (a CSV file): stored verbatim as data, exit 0,
  exactly the intended rows, the baseline graph untouched;
- as labels, relationship types and property keys: refused with a clear error, nothing
  written (Cypher cannot take those as parameters, so only whitelisted identifiers, checked
  with a full match, ever reach a query string);
- as `medgen cypher` parameters: they stay parameters (returned and matched verbatim).
"""

from __future__ import annotations

import csv
import json

import pytest

from tests.hostile.conftest import BASELINE, assert_refused

INJECTIONS = [
    "'}) DETACH DELETE n //",
    '"}) DETACH DELETE n //',
    "`) DETACH DELETE n //",
    "x`]->() DETACH DELETE n //",
    "CALL dbms.security.createUser('evil', 'evil', false)",
    "CALL apoc.cypher.runWrite('MATCH (n) DETACH DELETE n', {})",
    "CALL db.clearQueryCaches() YIELD value RETURN value",
    "' OR 1=1 WITH true AS x MATCH (n) DETACH DELETE n //",
    "\\'; MATCH (n) DETACH DELETE n; //",
    "$id",
    "{id: 'a'}",
    "line\nbreak) DETACH DELETE n",
    "Gene\n",
    "Ｇｅｎｅ",  # fullwidth letters
    "Gеne",  # a Cyrillic е
    "\u202eenegylno",  # right-to-left override
    "/* c */ MATCH (n) DELETE n",
    ":begin\nMATCH (n) DETACH DELETE n\n:commit",
    "[/bold][red]markup[/red]",
    "${jndi:ldap://127.0.0.1/x} \\",
]
assert len(INJECTIONS) == 20 and len(set(INJECTIONS)) == 20
IDS = [f"inj{i:02d}" for i in range(len(INJECTIONS))]


def write_csv(path, header: list[str], rows: list[list[str]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.mark.neo4j
def test_as_ids_names_and_values_they_are_stored_verbatim(hostile, tmp_path):
    run, snap = hostile
    before = snap()
    nodes = write_csv(tmp_path / "n.csv", ["id", "name", "note"],
                      [[s, s, s] for s in INJECTIONS])
    # and as edge endpoints: each injected node TREATS the baseline node "a"
    edges = write_csv(tmp_path / "e.csv", ["start", "end", "why", "k"],
                      [[s, "a", s, "Entity"] for s in INJECTIONS])
    result = run("kg", "load", "csv", "--nodes", nodes, "--edges", edges, "--label", "Entity",
                 "--rel-type", "TREATS", "--edge-col", "start=start", "--edge-col", "end=end",
                 "--edge-col", "start_label=k", "--edge-col", "end_label=k")
    assert result.code == 0, result
    after = snap()
    baseline_ids = set(BASELINE.nodes[0].frame["id"])
    # the baseline is untouched...
    assert [n for n in after["nodes"] if n["p"]["id"] in baseline_ids] == before["nodes"]
    # ...and exactly the 20 intended nodes were added, each string verbatim in each place
    added = [n for n in after["nodes"] if n["p"]["id"] not in baseline_ids]
    assert sorted(n["p"]["id"] for n in added) == sorted(INJECTIONS)
    for n in added:
        assert n["l"] == ["Entity"]
        assert n["p"]["name"] == n["p"]["note"] == n["p"]["id"]
    new_rels = [r for r in after["rels"] if r not in before["rels"]]
    assert len(new_rels) == 20 and len(after["rels"]) == len(before["rels"]) + 20
    assert all(r["t"] == "TREATS" and r["b"] == "a" and r["p"]["why"] == r["a"]
               for r in new_rels)


def _refused_everywhere(run, snap, argv, *fragments):
    before = snap()
    result = run(*argv)
    assert_refused(result, *fragments, code=None)
    assert result.code in (1, 2)
    assert snap() == before


@pytest.mark.neo4j
@pytest.mark.parametrize("s", INJECTIONS, ids=IDS)
def test_as_a_label_in_the_file_it_is_refused(hostile, tmp_path, s):
    run, snap = hostile
    nodes = write_csv(tmp_path / "n.csv", ["id", "kind"], [["x1", "Entity"], ["x2", s]])
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--nodes", nodes, "--node-col",
                                    "id=id", "--node-col", "label=kind"], "n.csv:3")


@pytest.mark.neo4j
@pytest.mark.parametrize("s", INJECTIONS, ids=IDS)
def test_as_a_label_or_type_option_it_is_refused(hostile, tmp_path, s):
    run, snap = hostile
    nodes = write_csv(tmp_path / "n.csv", ["id"], [["x1"]])
    edges = write_csv(tmp_path / "e.csv", ["start", "end"], [["a", "b"]])
    edge_cols = ["--edge-col", "start=start", "--edge-col", "end=end", "--edge-col",
                 "start_label=start", "--edge-col", "end_label=end"]
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--nodes", nodes, "--label", s],
                        "not allowed")
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--edges", edges, *edge_cols,
                                    "--rel-type", s], "not allowed")
    triples = tmp_path / "t.tsv"
    triples.write_text("a\ttreats\tb\n", encoding="utf-8")
    _refused_everywhere(run, snap, ["kg", "load", "triples", str(triples), "--entity-label", s],
                        "not allowed")


@pytest.mark.neo4j
@pytest.mark.parametrize("s", INJECTIONS, ids=IDS)
def test_as_a_relationship_type_in_the_file_it_is_refused(hostile, tmp_path, s):
    run, snap = hostile
    edges = write_csv(tmp_path / "e.csv", ["s", "e", "t", "k"],
                      [["a", "b", "TREATS", "Entity"], ["a", "c", s, "Entity"]])
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--edges", edges, "--edge-col", "start=s",
                                    "--edge-col", "end=e", "--edge-col", "type=t", "--edge-col",
                                    "start_label=k", "--edge-col", "end_label=k", "--label",
                                    "Entity"], "e.csv:3")


@pytest.mark.neo4j
@pytest.mark.parametrize("s", INJECTIONS, ids=IDS)
def test_as_a_property_key_it_is_refused(hostile, tmp_path, s):
    run, snap = hostile
    # an unmapped column becomes a property named after it
    nodes = write_csv(tmp_path / "n.csv", ["id", s], [["x1", "v"]])
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--nodes", nodes, "--label", "Entity"],
                        "n.csv:1", "cannot be a property name")
    # a mapped one is named by the mapping's key
    nodes = write_csv(tmp_path / "n2.csv", ["id", "col"], [["x1", "v"]])
    _refused_everywhere(run, snap, ["kg", "load", "csv", "--nodes", nodes, "--label", "Entity",
                                    "--node-col", "id=id", "--node-col", f"{s}=col"],
                        "cannot be a property name")


@pytest.mark.neo4j
@pytest.mark.parametrize("s", INJECTIONS, ids=IDS)
def test_as_cypher_parameters_they_stay_parameters(hostile, tmp_path, s):
    run, snap = hostile
    before = snap()
    # NAME=VALUE reads VALUE as JSON when it parses: a JSON string keeps it a string
    param = f"x={json.dumps(s)}"
    result = run("cypher", "RETURN $x AS x, size($x) AS n", "--param", param, "--format",
                 "json")
    assert result.code == 0, result
    assert json.loads(result.out) == [{"x": s, "n": len(s)}]
    # matched as a value, it finds nothing (no node has that id) and changes nothing
    result = run("cypher", "MATCH (n {id: $x}) RETURN count(n) AS c", "--param", param,
                 "--format", "json", "--write")
    assert result.code == 0, result
    assert json.loads(result.out) == [{"c": 0}]
    assert snap() == before
