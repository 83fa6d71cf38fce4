import gzip
from pathlib import Path

import pytest

from kg.errors import SourceError
from kg.sources.hetionet import DUPLICATES, load_hetionet

NODES_FILE = (
    Path(__file__).parents[3].parent
    / "shared"
    / "data"
    / "kg"
    / "hetionet-nodes"
    / "hetionet-v1.0-nodes.tsv"
)
HOSTILE = '\'}) DETACH DELETE n // `x` "q" β-lactam'

NODES = (
    "id\tname\tkind\n"
    "Gene::9021\tSOCS3\tGene\n"
    "Biological Process::GO:0071357\tcellular response to type I interferon\t"
    "Biological Process\n"
    "Compound::DB00014\tGoserelin\tCompound\n"
    "Disease::DOID:1612\tbreast cancer\tDisease\n"
    "Gene::5468\tPPARG\tGene\n"
    f"Compound::DB01234\t{HOSTILE}\tCompound\n"
)
EDGES = (
    "source\tmetaedge\ttarget\n"
    "Gene::9021\tGpBP\tBiological Process::GO:0071357\n"
    "Compound::DB00014\tCtD\tDisease::DOID:1612\n"
    "Gene::9021\tGr>G\tGene::5468\n"
    "Compound::DB01234\tCtD\tDisease::DOID:1612\n"
    "Compound::DB00014\tCtD\tDisease::DOID:1612\n"
)


def write(tmp_path: Path, data: str | bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(table) -> list[tuple]:
    return [tuple(r) for r in table.frame.itertuples(index=False)]


def test_tiny_files_exact_tables(tmp_path):
    nodes = write(tmp_path, NODES, "nodes.tsv")
    edges = write(tmp_path, EDGES, "edges.sif")
    tables = load_hetionet(nodes, edges)

    assert {t.label: rows(t) for t in tables.nodes} == {
        "BiologicalProcess": [
            (
                "GO:0071357",
                "cellular response to type I interferon",
                "Biological Process::GO:0071357",
            ),
        ],
        "Compound": [
            ("DB00014", "Goserelin", "Compound::DB00014"),
            ("DB01234", HOSTILE, "Compound::DB01234"),
        ],
        "Disease": [("DOID:1612", "breast cancer", "Disease::DOID:1612")],
        "Gene": [
            ("NCBIGene:9021", "SOCS3", "Gene::9021"),
            ("NCBIGene:5468", "PPARG", "Gene::5468"),
        ],
    }
    assert all(list(t.frame.columns) == ["id", "name", "hetionet_id"] for t in tables.nodes)
    assert {(t.type, t.start_label, t.end_label): rows(t) for t in tables.edges} == {
        ("PARTICIPATES_GpBP", "Gene", "BiologicalProcess"): [("NCBIGene:9021", "GO:0071357")],
        ("REGULATES_GrG", "Gene", "Gene"): [("NCBIGene:9021", "NCBIGene:5468")],
        ("TREATS_CtD", "Compound", "Disease"): [
            ("DB00014", "DOID:1612"),
            ("DB01234", "DOID:1612"),
        ],
    }
    assert tables.skipped == {DUPLICATES: 1}
    assert (tables.provenance.source, tables.provenance.version) == ("hetionet", "v1.0")


def test_gzipped_edges_as_published(tmp_path):
    nodes = write(tmp_path, NODES, "nodes.tsv")
    edges = write(tmp_path, gzip.compress(EDGES.encode()), "hetionet-v1.0-edges.sif.gz")
    assert load_hetionet(nodes, edges).edge_counts() == {
        "PARTICIPATES_GpBP": 1,
        "REGULATES_GrG": 1,
        "TREATS_CtD": 2,
    }


def test_nodes_only(tmp_path):
    tables = load_hetionet(write(tmp_path, NODES, "nodes.tsv"))
    assert tables.edges == []
    assert tables.node_counts() == {
        "BiologicalProcess": 1,
        "Compound": 2,
        "Disease": 1,
        "Gene": 2,
    }


def test_real_nodes_file():
    tables = load_hetionet(NODES_FILE)
    assert tables.node_counts() == {
        "Gene": 20945,
        "BiologicalProcess": 11381,
        "SideEffect": 5734,
        "MolecularFunction": 2884,
        "Pathway": 1822,
        "Compound": 1552,
        "CellularComponent": 1391,
        "Symptom": 438,
        "Anatomy": 402,
        "PharmacologicClass": 345,
        "Disease": 137,
    }
    assert sum(tables.node_counts().values()) == 47031
    genes = next(t.frame for t in tables.nodes if t.label == "Gene")
    assert genes["id"].str.startswith("NCBIGene:").all()
    assert genes.iloc[0].tolist() == ["NCBIGene:1", "A1BG", "Gene::1"]
    for table in tables.nodes:
        assert table.frame["id"].is_unique


GOOD_EDGE = "Gene::9021\tGpBP\tBiological Process::GO:0071357\n"


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        pytest.param(b"", 1, "file is empty", id="empty-file"),
        pytest.param("\n\n", 1, "no header line", id="blank-file"),
        pytest.param("Gene::1\tA1BG\tGene\n", 1, "expected header", id="no-header"),
        pytest.param(
            "id\tname\ttype\nGene::1\tA1BG\tGene\n", 1, "expected header", id="bad-header"
        ),
        pytest.param("id\tname\tkind\nGene::1\tA1BG\n", 2, "expected 3 fields", id="two-fields"),
        pytest.param(
            "id\tname\tkind\nGene::1\t\tGene\n", 2, "empty required field 'name'", id="empty-name"
        ),
        pytest.param(
            "id\tname\tkind\nGene::1\tA1BG\tProtein\n",
            2,
            "unknown kind 'Protein'",
            id="unknown-kind",
        ),
        pytest.param(
            "id\tname\tkind\nGene::1\tA1BG\tCompound\n",
            2,
            "does not read Compound::",
            id="prefix-mismatch",
        ),
        pytest.param(
            "id\tname\tkind\nGene:1\tA1BG\tGene\n", 2, "does not read Gene::", id="no-separator"
        ),
        pytest.param(
            "id\tname\tkind\nGene::\tA1BG\tGene\n", 2, "does not read Gene::", id="no-identifier"
        ),
        pytest.param(
            "id\tname\tkind\nGene::1\tA\tGene\nGene::1\tB\tGene\n",
            3,
            "duplicate id 'Gene::1'",
            id="duplicate-id",
        ),
        pytest.param(
            "id\tname\tkind\nGene::1\tA1BG\tGene\nGene::2\tNAT",
            3,
            "truncated last line",
            id="truncated",
        ),
        pytest.param(
            b"id\tname\tkind\nGene::1\tA1\xe9BG\tGene\n", 2, "not valid UTF-8", id="latin1"
        ),
        # UTF-16 with a BOM is read (as spreadsheets save it): this one has a cut header
        pytest.param(b"\xff\xfei\x00d\x00\t\x00", 1, "expected header", id="utf16"),
    ],
)
def test_malformed_nodes(tmp_path, data, line, reason):
    path = write(tmp_path, data, "nodes.tsv")
    with pytest.raises(SourceError) as info:
        load_hetionet(path)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert f"nodes.tsv:{line}: " in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        pytest.param("", 1, "file is empty", id="empty-file"),
        pytest.param(GOOD_EDGE, 1, "expected header", id="no-header"),
        pytest.param(
            "source\tmetaedge\ttarget\nGene::9021\tGpXX\tGene::5468\n",
            2,
            "unknown metaedge 'GpXX'",
            id="unknown-metaedge",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\n" + GOOD_EDGE + "Gene::7\tGiG\tGene::5468\n",
            3,
            "'Gene::7' is not in the nodes file",
            id="unknown-source",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\nGene::9021\tGiG\tGene::5468 \n",
            2,
            "'Gene::5468 ' is not in the nodes file",
            id="unknown-target",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\nCompound::DB00014\tGpBP\tBiological Process::GO:0071357\n",
            2,
            "GpBP needs a Gene node, but 'Compound::DB00014' is a Compound",
            id="source-kind",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\nCompound::DB00014\tCtD\tGene::9021\n",
            2,
            "CtD needs a Disease node",
            id="target-kind",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\nGene::9021\tGiG\n", 2, "expected 3 fields", id="two-fields"
        ),
        pytest.param(
            "source\tmetaedge\ttarget\nGene::9021\tGiG\t\n",
            2,
            "empty required field 'target'",
            id="empty-target",
        ),
        pytest.param(
            "source\tmetaedge\ttarget\n" + GOOD_EDGE + "Gene::9021\tGiG",
            3,
            "truncated last line",
            id="truncated",
        ),
        pytest.param(b"source\tmetaedge\ttarget\n\x00\x01\x02\n", 2, "NUL", id="binary"),
    ],
)
def test_malformed_edges(tmp_path, data, line, reason):
    nodes = write(tmp_path, NODES, "nodes.tsv")
    path = write(tmp_path, data, "edges.sif")
    with pytest.raises(SourceError) as info:
        load_hetionet(nodes, path)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert f"edges.sif:{line}: " in str(info.value)
    assert reason in str(info.value)


def test_broken_gzip(tmp_path):
    nodes = write(tmp_path, NODES, "nodes.tsv")
    path = write(tmp_path, gzip.compress(EDGES.encode())[:40], "edges.sif.gz")
    with pytest.raises(SourceError, match="edges.sif.gz"):
        load_hetionet(nodes, path)
