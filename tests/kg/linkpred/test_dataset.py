"""TripleGraph from the real DDB14 files and from a HeteroData export; seeded
splits written out and read back."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import HeteroData

from kg.errors import SourceError
from kg.export import Export
from kg.linkpred import LinkPredictionError, TripleGraph, split_triples

from .toy import toy_export, toy_graph


@pytest.fixture(scope="module")
def ddb14(shared_data) -> TripleGraph:
    return TripleGraph.from_triples_dir(shared_data / "kg" / "ddb14")


def test_ddb14_as_published(ddb14):
    assert ddb14.num_nodes == 9203 and ddb14.num_relations == 14
    assert (len(ddb14.train), len(ddb14.valid), len(ddb14.test)) == (36561, 4000, 4000)
    assert ddb14.node_types == ["Entity"] and int(ddb14.node_type.max()) == 0
    assert "may cause" in ddb14.relations
    # the data's README: 103 valid and 118 test triples name an entity unseen in training
    seen = torch.zeros(ddb14.num_nodes, dtype=torch.bool)
    seen[ddb14.train[:, [0, 2]].flatten()] = True
    for split, expected in (("valid", 103), ("test", 118)):
        t = getattr(ddb14, split)
        assert int((~(seen[t[:, 0]] & seen[t[:, 2]])).sum()) == expected
    edge_index, edge_type = ddb14.message_passing_graph()
    assert edge_index.shape == (2, 36561) and edge_type.shape == (36561,)


def test_a_slice_of_ddb14_round_trips_through_files(shared_data, tmp_path):
    src = shared_data / "kg" / "ddb14"
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("train", "valid", "test"):
        lines = (src / f"{name}.txt").read_text().splitlines(keepends=True)
        (raw / f"{name}.txt").write_text("".join(lines[:60]))
    graph = TripleGraph.from_triples_dir(raw)
    assert (len(graph.train), len(graph.valid), len(graph.test)) == (60, 60, 60)
    assert graph.node_ids == sorted(graph.node_ids)  # stable numbering
    back = TripleGraph.from_triples_dir(graph.save(tmp_path / "out"))
    assert_same(back, graph)
    # the written triples read exactly as the input files did
    for name in ("train", "valid", "test"):
        assert (tmp_path / "out" / f"{name}.txt").read_text() == (raw / f"{name}.txt").read_text()


def assert_same(a: TripleGraph, b: TripleGraph) -> None:
    assert a.node_ids == b.node_ids and a.node_types == b.node_types
    assert a.relations == b.relations and torch.equal(a.node_type, b.node_type)
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_from_export_types_nodes_by_label():
    graph = toy_graph()
    assert graph.node_types == ["Disease", "Gene"]
    assert graph.relations == ["ASSOCIATED_WITH", "INTERACTS_WITH", "SIMILAR_TO"]
    assert graph.node_ids[0] == "OMIM:000" and graph.node_ids[24] == "NCBIGene:000"
    assert graph.node_type.tolist() == [0] * 24 + [1] * 24
    total = len(graph.all_triples())
    export = toy_export()
    assert total == sum(export.data[t].edge_index.shape[1] for t in export.data.edge_types)
    # ASSOCIATED_WITH goes from genes to diseases
    assoc = graph.all_triples()[graph.all_triples()[:, 1] == 0]
    assert set(graph.node_type[assoc[:, 0]].tolist()) == {1}
    assert set(graph.node_type[assoc[:, 2]].tolist()) == {0}


def test_split_is_reproducible_from_the_seed_and_transductive(tmp_path):
    a, b, c = toy_graph(seed=0), toy_graph(seed=0), TripleGraph.from_export(toy_export(), seed=1)
    assert_same(a, b)
    assert not torch.equal(a.valid, c.valid)
    seen = torch.zeros(a.num_nodes, dtype=torch.bool)
    seen[a.train[:, [0, 2]].flatten()] = True
    for part in (a.valid, a.test):
        assert seen[part[:, 0]].all() and seen[part[:, 2]].all()
    assert_same(TripleGraph.from_triples_dir(a.save(tmp_path / "split")), a)
    assert (tmp_path / "split" / "nodes.tsv").read_text().startswith("id\ttype\nOMIM:000\t")


def test_split_fractions_and_holdout_relations():
    triples = torch.stack([torch.arange(100) % 10, torch.arange(100) % 2,
                           (torch.arange(100) * 7) % 10], dim=1)
    train, valid, test = split_triples(triples, (0.6, 0.2, 0.2), seed=0)
    assert (len(train), len(valid), len(test)) == (60, 20, 20)
    assert len(torch.cat([train, valid, test]).unique(dim=0)) == len(triples.unique(dim=0))
    graph = TripleGraph.from_export(toy_export(), holdout_relations=["ASSOCIATED_WITH"],
                                    fractions=(0.8, 0.1, 0.1))
    for part in (graph.valid, graph.test):
        assert set(part[:, 1].tolist()) == {0}


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions(fractions):
    with pytest.raises(LinkPredictionError, match="fraction"):
        TripleGraph.from_export(toy_export(), fractions=fractions)


def test_unknown_holdout_relation():
    with pytest.raises(LinkPredictionError, match="CAUSES"):
        TripleGraph.from_export(toy_export(), holdout_relations=["CAUSES"])


def test_ids_must_be_unique_across_labels():
    data = HeteroData()
    data["A"].num_nodes = 1
    data["B"].num_nodes = 1
    data["A", "R", "B"].edge_index = torch.tensor([[0], [0]])
    with pytest.raises(LinkPredictionError, match="shared by several labels"):
        TripleGraph.from_export(Export(data, {"A": ["x"], "B": ["x"]}))


def test_malformed_triples_file_names_file_and_line(tmp_path):
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.txt").write_text("a\tr\tb\n")
    (tmp_path / "valid.txt").write_text("a\tr\tb\nc\td\n")
    with pytest.raises(SourceError, match=r"valid.txt:2: expected 3 fields"):
        TripleGraph.from_triples_dir(tmp_path)
    (tmp_path / "valid.txt").unlink()
    with pytest.raises(LinkPredictionError, match="missing triples file"):
        TripleGraph.from_triples_dir(tmp_path)


def test_triples_naming_a_node_missing_from_nodes_tsv(tmp_path):
    toy_graph().save(tmp_path)
    (tmp_path / "test.txt").write_text("OMIM:000\tSIMILAR_TO\tnobody\n")
    with pytest.raises(LinkPredictionError, match="'nobody'"):
        TripleGraph.from_triples_dir(tmp_path)


def test_empty_split_round_trips(tmp_path):
    graph = TripleGraph.from_export(toy_export(), fractions=(0.9, 0.1, 0.0))
    assert len(graph.test) == 0
    assert_same(TripleGraph.from_triples_dir(graph.save(tmp_path)), graph)


def test_invalid_tensors_are_refused():
    g = toy_graph()
    with pytest.raises(LinkPredictionError, match="does not exist"):
        TripleGraph(g.node_ids, g.node_type, g.node_types, g.relations,
                    torch.tensor([[0, 5, 1]]), g.valid, g.test)
    with pytest.raises(LinkPredictionError, match=r"\(E, 3\) LongTensor"):
        TripleGraph(g.node_ids, g.node_type, g.node_types, g.relations,
                    g.train.float(), g.valid, g.test)
    with pytest.raises(LinkPredictionError, match="cannot be written"):
        TripleGraph(["a\tb", *g.node_ids[1:]], g.node_type, g.node_types, g.relations,
                    g.train, g.valid, g.test).save("/nonexistent-never-written")
    with pytest.raises(LinkPredictionError, match="unknown relation"):
        g.relation_index("CAUSES")
