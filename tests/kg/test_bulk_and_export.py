"""The bulk path builds the same graph as the online path; the export is stable."""

from __future__ import annotations

import pytest

from kg.bulk import write_bulk_csv
from kg.errors import KGError
from kg.export import export_hetero, load_export, save_export
from medgen.pipeline import build_bulk

from .test_store import HOSTILE, tiny_graph

SNAPSHOT = (
    "MATCH (n) OPTIONAL MATCH (n)-[r]->(m) "
    "RETURN labels(n)[0] AS label, n.id AS id, n.name AS name, "
    "type(r) AS type, m.id AS target, r.frequency AS frequency ORDER BY id, type, target"
)


def test_bulk_csv_header_and_quoting(tmp_path):
    files = write_bulk_csv([tiny_graph()], tmp_path)
    assert [label for label, _ in files.nodes] == ["Disease", "Phenotype"]
    assert [t for t, _ in files.relationships] == ["HAS_PHENOTYPE", "IS_A"]
    text = files.nodes[0][1].read_text()
    assert text.splitlines()[0].startswith('"id:ID(Disease)","name"')
    assert HOSTILE in text


@pytest.mark.neo4j
def test_bulk_build_equals_online_build(store, neo4j_server, tmp_path):
    if neo4j_server.server is None:
        pytest.skip("the bulk path needs the suite's own managed server")
    store.write(tiny_graph())
    online = store.run_read(SNAPSHOT)
    report = build_bulk(neo4j_server.server, store, [tiny_graph()], work_dir=tmp_path)
    assert report.written.nodes == {"Disease": 2, "Phenotype": 3}
    assert store.run_read(SNAPSHOT) == online
    # constraints exist again, so an online rerun on top of the bulk build changes nothing
    store.write(tiny_graph())
    assert store.run_read(SNAPSHOT) == online


@pytest.mark.neo4j
def test_export_is_stable_and_round_trips(store, tmp_path):
    store.write(tiny_graph())
    ex = export_hetero(store)
    assert ex.id_maps == {"Disease": ["OMIM:1", "OMIM:2"], "Phenotype": ["HP:1", "HP:2", "HP:3"]}
    ei = ex.data["Disease", "HAS_PHENOTYPE", "Phenotype"].edge_index
    assert ei.tolist() == [[0, 0, 1], [0, 1, 2]]
    assert ex.data["Phenotype", "IS_A", "Phenotype"].edge_index.tolist() == [[1, 2], [0, 0]]
    save_export(ex, tmp_path / "g.pt")
    back = load_export(tmp_path / "g.pt")
    assert back.id_maps == ex.id_maps
    assert back.data["Disease", "HAS_PHENOTYPE", "Phenotype"].edge_index.tolist() == ei.tolist()
    sub = export_hetero(store, labels=["Phenotype"])
    assert list(sub.id_maps) == ["Phenotype"] and sub.data.edge_types == [
        ("Phenotype", "IS_A", "Phenotype")]
    with pytest.raises(KGError, match="no nodes with label"):
        export_hetero(store, labels=["Gene"])


@pytest.mark.neo4j
def test_export_refuses_nodes_without_an_id(store):
    store.write(tiny_graph())
    # a node written by hand without the key property, linked like the others
    with store._session() as s:
        s.run("MATCH (d:Disease {id: 'OMIM:1'}) "
              "CREATE (d)-[:HAS_PHENOTYPE]->(:Phenotype {name: 'no id'})").consume()
    with pytest.raises(KGError, match="without an `id`"):
        export_hetero(store)
