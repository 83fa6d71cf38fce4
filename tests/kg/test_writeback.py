"""Predictions, embeddings and explanations written to and read from the real Neo4j."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kg.errors import KGError, SchemaError
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance
from kg.writeback import explain, similar, write_embeddings, write_predictions

pytestmark = pytest.mark.neo4j


def small_graph() -> GraphTables:
    genes = pd.DataFrame({"id": ["G1", "G2", "G3"], "symbol": ["FBN1", "TGFBR1", "HUB"]})
    diseases = pd.DataFrame({"id": ["D1", "D2"], "name": ["Marfan", "Loeys-Dietz"]})
    terms = pd.DataFrame({"id": ["P1", "P2"], "name": ["Arachnodactyly", "Aortic root"]})
    assoc = pd.DataFrame({"start": ["G1", "G2"], "end": ["D1", "D2"]})
    has = pd.DataFrame({"start": ["D1", "D1", "D2"], "end": ["P1", "P2", "P2"]})
    g_has = pd.DataFrame({"start": ["G3", "G3", "G2"], "end": ["P1", "P2", "P1"]})
    return with_provenance(GraphTables(
        Provenance("test", "1"),
        nodes=[NodeTable("Gene", genes), NodeTable("Disease", diseases),
               NodeTable("Phenotype", terms)],
        edges=[EdgeTable("ASSOCIATED_WITH", "Gene", "Disease", assoc),
               EdgeTable("HAS_PHENOTYPE", "Disease", "Phenotype", has),
               EdgeTable("HAS_PHENOTYPE", "Gene", "Phenotype", g_has)],
    ))


def predictions(*pairs) -> pd.DataFrame:
    return pd.DataFrame([{"start": s, "end": e, "score": sc, "rank": i + 1}
                         for i, (s, e, sc) in enumerate(pairs)])


def test_predictions_skip_observed_links_and_are_idempotent_per_run(store):
    store.write(small_graph())
    rows = predictions(("G1", "D1", 0.99), ("G1", "D2", 0.7), ("G2", "D1", 0.6))
    rep = write_predictions(store, "ASSOCIATED_WITH", "Gene", "Disease", rows,
                            model="m", run_id="run-1")
    assert (rep.offered, rep.written) == (3, 2)  # G1-D1 is observed: left alone
    write_predictions(store, "ASSOCIATED_WITH", "Gene", "Disease", rows, model="m",
                      run_id="run-1")
    got = store.run_read("MATCH (g)-[p:PREDICTED_ASSOCIATED_WITH]->(d) RETURN g.id AS g, "
                         "d.id AS d, p.score AS s, p.rank AS r, p.model AS m, p.run_id AS run, "
                         "p.created_at IS NOT NULL AS t ORDER BY g, d")
    assert got == [
        {"g": "G1", "d": "D2", "s": 0.7, "r": 2, "m": "m", "run": "run-1", "t": True},
        {"g": "G2", "d": "D1", "s": 0.6, "r": 3, "m": "m", "run": "run-1", "t": True},
    ]
    assert store.counts()["relationships"]["ASSOCIATED_WITH"] == 2
    write_predictions(store, "ASSOCIATED_WITH", "Gene", "Disease", rows, model="m",
                      run_id="run-2")
    assert store.counts()["relationships"]["PREDICTED_ASSOCIATED_WITH"] == 4
    write_predictions(store, "ASSOCIATED_WITH", "Gene", "Disease", rows, model="m",
                      run_id="run-3", keep_older_runs=False)
    runs = store.run_read("MATCH ()-[p:PREDICTED_ASSOCIATED_WITH]->() "
                          "RETURN collect(DISTINCT p.run_id) AS runs")
    assert runs == [{"runs": ["run-3"]}]


def test_prediction_type_must_be_whitelisted(store):
    with pytest.raises(SchemaError):
        write_predictions(store, "X]->() DETACH DELETE n //", "Gene", "Disease",
                          predictions(("G1", "D1", 1.0)), model="m", run_id="r")


def test_similar_answers_through_the_vector_index(store):
    store.write(small_graph())
    vectors = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    assert write_embeddings(store, "Gene", ["G1", "G2", "G3"], vectors) == 3
    got = similar(store, "G1", k=2)
    assert [r["id"] for r in got] == ["G2", "G3"]
    assert got[0]["name"] == "TGFBR1" and got[0]["score"] > got[1]["score"]
    with pytest.raises(KGError, match="no node with id"):
        similar(store, "nope")
    with pytest.raises(KGError, match="no embeddings for Disease"):
        similar(store, "D1")


def test_embeddings_of_another_size_rebuild_the_index(store):
    # a later run with another embedding size must not be skipped by the old index
    store.write(small_graph())
    write_embeddings(store, "Gene", ["G1", "G2", "G3"], np.eye(3))
    write_embeddings(store, "Gene", ["G1", "G2", "G3"],
                     np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]))
    assert [r["id"] for r in similar(store, "G1", k=2)] == ["G3", "G2"]


def test_explain_ranks_specific_paths_before_hub_paths(store):
    store.write(small_graph())
    paths = explain(store, "G1", "ASSOCIATED_WITH", "D2")
    assert paths, "G1 and D2 are joined through D1 and the phenotypes"
    best = paths[0]
    assert best.text.startswith("Gene G1 (FBN1) -[ASSOCIATED_WITH]-> Disease D1 (Marfan)")
    assert best.text.endswith("Disease D2 (Loeys-Dietz)")
    assert len(best.relationships) <= 3
    assert [p.cost for p in paths] == sorted(p.cost for p in paths)
    with pytest.raises(KGError, match="no node with id"):
        explain(store, "G1", "ASSOCIATED_WITH", "missing")
    with pytest.raises(SchemaError):
        explain(store, "G1", "NOT_A_TYPE", "D2")
