"""GraphStore against the real Neo4j the suite starts."""

from __future__ import annotations

from unittest import mock

import pandas as pd
import pytest

from kg import queries
from kg.errors import SchemaError, StoreError
from kg.schema import Schema
from kg.store import GraphStore
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance

HOSTILE = "'}) DETACH DELETE n //"


def tiny_graph() -> GraphTables:
    diseases = pd.DataFrame({"id": ["OMIM:1", "OMIM:2"], "name": ["Alpha", HOSTILE]})
    terms = pd.DataFrame({"id": ["HP:1", "HP:2", "HP:3"], "name": ["a`b", 'q"uote', "ünï"]})
    has = pd.DataFrame({"start": ["OMIM:1", "OMIM:1", "OMIM:2"], "end": ["HP:1", "HP:2", "HP:3"],
                        "frequency": ["HP:0040281", None, "1/2"]})
    is_a = pd.DataFrame({"start": ["HP:2", "HP:3"], "end": ["HP:1", "HP:1"]})
    t = GraphTables(
        Provenance("test", "1"),
        nodes=[NodeTable("Disease", diseases), NodeTable("Phenotype", terms)],
        edges=[EdgeTable("HAS_PHENOTYPE", "Disease", "Phenotype", has),
               EdgeTable("IS_A", "Phenotype", "Phenotype", is_a)],
    )
    return with_provenance(t)


@pytest.mark.neo4j
def test_write_is_idempotent_and_keeps_hostile_text(store):
    store.write(tiny_graph(), batch_size=2)
    first = store.counts()
    assert first == {"nodes": {"Disease": 2, "Phenotype": 3},
                     "relationships": {"HAS_PHENOTYPE": 3, "IS_A": 2}}
    store.write(tiny_graph(), batch_size=2)
    assert store.counts() == first
    rows = store.run_read("MATCH (d:Disease {id: 'OMIM:2'}) RETURN d.name AS name, "
                          "d.source AS source, d.source_version AS v, d.loaded_at AS t")
    assert rows[0]["name"] == HOSTILE
    assert rows[0]["source"] == "test" and rows[0]["v"] == "1" and rows[0]["t"]
    rel = store.run_read("MATCH (:Disease {id:'OMIM:1'})-[r:HAS_PHENOTYPE]->"
                         "(:Phenotype {id:'HP:2'}) RETURN r.frequency AS f, r.source AS s")
    assert rel == [{"f": None, "s": "test"}]  # a missing value is no property, not "nan"


@pytest.mark.neo4j
def test_every_label_gets_a_uniqueness_constraint(store):
    store.write(tiny_graph())
    rows = store.run_read(queries.SHOW_CONSTRAINTS)
    keyed = {(tuple(r["labelsOrTypes"]), tuple(r["properties"])) for r in rows}
    assert {(("Disease",), ("id",)), (("Phenotype",), ("id",))} <= keyed


@pytest.mark.neo4j
def test_edge_batch_with_missing_endpoint_is_rolled_back_and_rerun_completes(store):
    g = tiny_graph()
    store.write(GraphTables(g.provenance, nodes=[g.nodes[1]]))  # phenotypes only
    with pytest.raises(StoreError, match=r"Disease 'OMIM:1'.*Nothing of this batch"):
        store.write_edges(g.edges[0], batch_size=10)
    assert store.counts()["relationships"] == {}
    store.write(g)  # the fix: load the diseases too; the rerun completes
    assert store.counts()["relationships"] == {"HAS_PHENOTYPE": 3, "IS_A": 2}


def test_unknown_label_never_reaches_cypher():
    driver = mock.MagicMock()
    bad = NodeTable("Disease`) DETACH DELETE (n", pd.DataFrame({"id": ["x"]}))
    with pytest.raises(SchemaError, match="unknown node label"):
        GraphStore(driver).write_nodes(bad)
    driver.session.assert_not_called()


def test_merge_query_and_parameters_are_exact():
    driver = mock.MagicMock()
    tx_session = driver.session.return_value.__enter__.return_value
    tx_session.execute_write.return_value = 1
    table = NodeTable("Gene", pd.DataFrame({"id": ["NCBIGene:1"], "symbol": ["A1BG"]}))
    assert GraphStore(driver, database="db1").write_nodes(table) == 1
    driver.session.assert_called_with(database="db1")
    _, query, rows, common = tx_session.execute_write.call_args.args
    assert query == ("UNWIND $rows AS row MERGE (n:`Gene` {id: row.id}) "
                     "SET n += row.props, n += $common RETURN count(n) AS written")
    assert rows == [{"id": "NCBIGene:1", "props": {"symbol": "A1BG"}}]
    assert common == {}


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a`b", "x" * 65, "DROP;"])
def test_schema_rejects_non_identifiers(name):
    with pytest.raises(SchemaError):
        Schema.default().add_label(name)
