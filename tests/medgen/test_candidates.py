"""Candidates into the real Neo4j: Candidate nodes keyed by InChIKey, ANALOG_OF {tanimoto}
to their nearest approved-drug Compound nodes, idempotent; `medgen mol link` and a Cypher
query through `medgen cypher` listing candidates with their nearest drugs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from rdkit import DataStructs

from kg.tables import GraphTables, NodeTable, Provenance, with_provenance
from medgen.candidates import (
    candidate_graph,
    candidates_with_drugs,
    link_candidates,
    nearest_drugs,
)
from molgen import chem
from molgen.export import candidate_table, write_csv

from .test_cli_mol import one_line_error, run

DRUGS = pd.DataFrame({
    "id": ["CHEMBL25", "CHEMBL113", "CHEMBL521"],
    "name": ["ASPIRIN", "CAFFEINE", "IBUPROFEN"],
    "smiles": ["CC(=O)Oc1ccccc1C(=O)O", "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
               "CC(C)Cc1ccc(C(C)C(=O)O)cc1"],
})
CANDIDATES = [
    "CCC(=O)Oc1ccccc1C(=O)O",  # aspirin, one carbon longer
    "CC(C)Cc1ccc(C(C)C(=O)OC)cc1",  # ibuprofen methyl ester
    "CCCCCCCCCC",  # like no drug
]


def drug_tables() -> GraphTables:
    frame = DRUGS.assign(smiles=[chem.canonical_smiles(s) for s in DRUGS["smiles"]])
    return with_provenance(GraphTables(Provenance("test drugs", "1"),
                                       nodes=[NodeTable("Compound", frame)]))


def test_nearest_drugs_matches_a_slow_obvious_loop():
    links = nearest_drugs(CANDIDATES, DRUGS, min_tanimoto=0.0, top_k=2)
    for row in links.itertuples():
        drug = DRUGS.loc[DRUGS["id"] == row.end, "smiles"].item()
        # RDKit's own Tanimoto on the project's one fingerprint (MOSES's Morgan r=2, 1024 bits)
        expected = DataStructs.TanimotoSimilarity(chem.morgan_fingerprint(CANDIDATES[row.start]),
                                                  chem.morgan_fingerprint(drug))
        assert row.tanimoto == pytest.approx(expected)
        others = DRUGS.loc[DRUGS["id"] != row.end, "smiles"]
        if row.rank == 1:  # nothing is nearer
            assert all(chem.tanimoto(CANDIDATES[row.start], others) <= row.tanimoto + 1e-6)
    assert links.groupby("start").size().tolist() == [2, 2, 2]
    near = nearest_drugs(CANDIDATES, DRUGS, min_tanimoto=0.4)
    assert near[["start", "end", "rank"]].values.tolist() == [[0, "CHEMBL25", 1],
                                                             [1, "CHEMBL521", 1]]
    with pytest.raises(ValueError):
        nearest_drugs(CANDIDATES, DRUGS, min_tanimoto=1.5)


def test_nearest_drugs_in_blocks_equals_one_block(monkeypatch):
    whole = nearest_drugs(CANDIDATES, DRUGS, min_tanimoto=0.0, top_k=2)
    monkeypatch.setattr("medgen.candidates._BLOCK", 2)
    pd.testing.assert_frame_equal(nearest_drugs(CANDIDATES, DRUGS, min_tanimoto=0.0, top_k=2),
                                  whole)


def test_candidate_graph_uses_the_schema_labels():
    table = candidate_table(CANDIDATES)
    tables = candidate_graph(table, DRUGS, run_id="run-1", min_tanimoto=0.4)
    nodes, edges = tables.nodes[0], tables.edges[0]
    assert (nodes.label, edges.type, edges.start_label, edges.end_label) == (
        "Candidate", "ANALOG_OF", "Candidate", "Compound")
    assert nodes.frame["id"].tolist() == [chem.inchikey(s) for s in CANDIDATES]
    assert set(nodes.frame["run_id"]) == {"run-1"}
    assert set(edges.frame["start"]) <= set(nodes.frame["id"])


@pytest.mark.neo4j
def test_link_writes_candidates_and_analog_of_idempotently(store):
    store.write(drug_tables())
    table = candidate_table(CANDIDATES)
    report = link_candidates(store, table, run_id="run-1", min_tanimoto=0.4)
    assert (report.candidates, report.links, report.drugs) == (3, 2, 3)
    again = link_candidates(store, table, run_id="run-1", min_tanimoto=0.4)
    assert again.links == 2
    assert store.counts() == {"nodes": {"Compound": 3, "Candidate": 3},
                              "relationships": {"ANALOG_OF": 2}}
    rows = candidates_with_drugs(store)
    assert [(r["drug_name"], r["smiles"]) for r in sorted(rows, key=lambda r: r["drug"])] == [
        ("ASPIRIN", chem.canonical_smiles(CANDIDATES[0])),
        ("IBUPROFEN", chem.canonical_smiles(CANDIDATES[1]))]
    assert all(0.4 <= r["tanimoto"] <= 1 for r in rows)
    node = store.run_read("MATCH (c:Candidate {id: $id}) RETURN c", id=chem.inchikey(
        CANDIDATES[0]))[0]["c"]
    assert node["qed"] > 0 and node["run_id"] == "run-1" and node["source"]


@pytest.fixture
def cli_env(neo4j_server, store, monkeypatch):
    for name, value in neo4j_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    return store


@pytest.mark.neo4j
def test_mol_link_cli_and_cypher_query(cli_env, tmp_path, capsys):
    store = cli_env
    csv_path = tmp_path / "candidates.csv"
    one_line_error(run(capsys, "mol", "link", "--candidates", str(tmp_path / "missing.csv")),
                   "no such file")
    write_csv(candidate_table(CANDIDATES, pd.DataFrame({"method": ["prior"] * 3,
                                                        "run_id": ["r7"] * 3})), csv_path)
    one_line_error(run(capsys, "mol", "link", "--candidates", str(csv_path)),
                   "no Compound node")
    store.write(drug_tables())
    code, out, err = run(capsys, "mol", "link", "--candidates", str(csv_path),
                         "--min-tanimoto", "0.4")
    assert code == 0, err
    assert "3 Candidate nodes and 2 ANALOG_OF links" in out
    code, out, err = run(capsys, "cypher",
                         "MATCH (c:Candidate)-[r:ANALOG_OF]->(d:Compound) RETURN c.smiles AS "
                         "candidate, d.name AS drug, r.tanimoto AS tanimoto, c.run_id AS run "
                         "ORDER BY tanimoto DESC", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["drug"] for r in rows} == {"ASPIRIN", "IBUPROFEN"}
    assert {r["run"] for r in rows} == {"r7"}
    assert rows[0]["tanimoto"] >= rows[1]["tanimoto"] >= 0.4

    bad = tmp_path / "bad.csv"
    bad.write_text("smiles\nCCO\nC1CC\n")
    code, _, err = run(capsys, "mol", "link", "--candidates", str(bad))
    assert code == 0 and f"{bad}:3:" in err  # skipped with its line, the rest written


def readme_candidate_query() -> str:
    """The query the README gives for candidates with their nearest approved drugs."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r'medgen cypher "(MATCH \(c:Candidate\).*?)"', readme, re.DOTALL)
    assert found, "README lost its candidates query"
    return found.group(1)


@pytest.mark.neo4j
def test_readme_query_lists_candidates_with_nearest_drugs(cli_env, tmp_path, capsys):
    store = cli_env
    store.write(drug_tables())
    csv_path = tmp_path / "candidates.csv"
    write_csv(candidate_table(CANDIDATES), csv_path)
    code, out, err = run(capsys, "mol", "link", "--candidates", str(csv_path),
                         "--min-tanimoto", "0.2", "--top-k", "2")
    assert code == 0, err
    code, out, err = run(capsys, "cypher", readme_candidate_query(), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    # The same links as the library's own query gives, most similar first.
    assert sorted((r["candidate"], r["drug"], r["tanimoto"]) for r in rows) == sorted(
        (e["smiles"], e["drug_name"], round(e["tanimoto"], 3))
        for e in candidates_with_drugs(store))
    assert [r["tanimoto"] for r in rows] == sorted((r["tanimoto"] for r in rows), reverse=True)
    assert rows[0]["drug"] in {"ASPIRIN", "IBUPROFEN"} and rows[0]["tanimoto"] >= 0.4
    assert {r["chembl_id"] for r in rows} <= set(DRUGS["id"])
    assert all(0 < r["qed"] < 1 for r in rows)
    by_candidate = {}
    for r in rows:
        by_candidate.setdefault(r["candidate"], []).append(r["rank"])
    assert all(sorted(ranks) == list(range(1, len(ranks) + 1)) for ranks in by_candidate.values())
