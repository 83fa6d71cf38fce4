import csv
import hashlib
from pathlib import Path

import pytest

from kg.errors import SchemaError, SourceError
from kg.sources.csv_source import DUPLICATES, load_csv

HOSTILE = ["'}) DETACH DELETE n //", 'a"b`c,d', "line\nbreak", "β-lactam 🧪"]

NODES = (
    "code,type,title,synonyms\n"
    "D1,Disease,breast cancer,\n"
    'D2,Disease,"cancer, of the\nlung",NSCLC\n'
    "C1,Compound,aspirin,ASA\n"
)
EDGES = (
    "src,dst,rel,weight\nC1,D1,TREATS,0.5\nC1,D2,TREATS,\nD1,D2,RESEMBLES,0.1\nC1,D1,TREATS,0.9\n"
)
NODE_COLUMNS = {"id": "code", "label": "type", "name": "title"}
EDGE_COLUMNS = {"start": "src", "end": "dst", "type": "rel"}


def write(tmp_path: Path, data: str | bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(table) -> list[tuple]:
    return [tuple(r) for r in table.frame.itertuples(index=False)]


def load_tiny(tmp_path, nodes=NODES, edges=EDGES, **kwargs):
    kwargs.setdefault("node_columns", NODE_COLUMNS)
    kwargs.setdefault("edge_columns", EDGE_COLUMNS)
    return load_csv(
        write(tmp_path, nodes, "nodes.csv"), write(tmp_path, edges, "edges.csv"), **kwargs
    )


def test_tiny_files_exact_tables(tmp_path):
    tables = load_tiny(tmp_path)

    # mapped properties keep their mapped names; unmapped columns keep theirs; empty -> None
    assert {t.label: list(t.frame.columns) for t in tables.nodes} == {
        "Compound": ["id", "name", "synonyms"],
        "Disease": ["id", "name", "synonyms"],
    }
    assert {t.label: rows(t) for t in tables.nodes} == {
        "Compound": [("C1", "aspirin", "ASA")],
        "Disease": [("D1", "breast cancer", None), ("D2", "cancer, of the\nlung", "NSCLC")],
    }
    assert {(t.type, t.start_label, t.end_label): rows(t) for t in tables.edges} == {
        ("RESEMBLES", "Disease", "Disease"): [("D1", "D2", "0.1")],
        ("TREATS", "Compound", "Disease"): [("C1", "D1", "0.5"), ("C1", "D2", None)],
    }
    assert all(list(t.frame.columns) == ["start", "end", "weight"] for t in tables.edges)
    assert tables.skipped == {DUPLICATES: 1}
    expected = hashlib.sha1((NODES + EDGES).encode()).hexdigest()[:12]
    assert (tables.provenance.source, tables.provenance.version) == ("csv", expected)


def test_fixed_label_and_type_with_tabs(tmp_path):
    nodes = write(tmp_path, "id\tname\nG1\tBRCA1\nG2\tTP53\n", "genes.tsv")
    edges = write(tmp_path, "a\tb\nG1\tG2\n", "links.tsv")
    tables = load_csv(
        nodes,
        edges,
        node_columns={"id": "id"},
        edge_columns={"start": "a", "end": "b"},
        label="Gene",
        rel_type="INTERACTS",
        delimiter="\t",
    )
    assert [(t.label, rows(t)) for t in tables.nodes] == [
        ("Gene", [("G1", "BRCA1"), ("G2", "TP53")]),
    ]
    assert [(t.type, t.start_label, t.end_label, rows(t)) for t in tables.edges] == [
        ("INTERACTS", "Gene", "Gene", [("G1", "G2")]),
    ]


def test_edges_only_with_label_columns(tmp_path):
    edges = write(
        tmp_path,
        "s,sl,t,tl,evidence\nNCBIGene:672,Gene,OMIM:114480,Disease,PMID:1\n",
        "edges.csv",
    )
    tables = load_csv(
        edges_path=edges,
        rel_type="ASSOCIATED_WITH",
        edge_columns={
            "start": "s",
            "end": "t",
            "start_label": "sl",
            "end_label": "tl",
            "source_ref": "evidence",
        },
    )
    assert tables.nodes == []
    assert [(t.type, t.start_label, t.end_label, rows(t)) for t in tables.edges] == [
        ("ASSOCIATED_WITH", "Gene", "Disease", [("NCBIGene:672", "OMIM:114480", "PMID:1")]),
    ]
    assert list(tables.edges[0].frame.columns) == ["start", "end", "source_ref"]


def test_hostile_strings_round_trip_verbatim(tmp_path):
    nodes_path, edges_path = tmp_path / "nodes.csv", tmp_path / "edges.csv"
    with open(nodes_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name"])
        writer.writerows([h, h[::-1]] for h in HOSTILE)
    with open(edges_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start", "end", "note"])
        writer.writerows([h, HOSTILE[0], h] for h in HOSTILE)
    tables = load_csv(
        nodes_path,
        edges_path,
        node_columns={"id": "id"},
        edge_columns={"start": "start", "end": "end"},
        label="Thing",
        rel_type="LINKS",
    )
    assert rows(tables.nodes[0]) == [(h, h[::-1]) for h in HOSTILE]
    assert rows(tables.edges[0]) == [(h, HOSTILE[0], h) for h in HOSTILE]


def test_line_numbers_are_physical_lines_of_the_record_start(tmp_path):
    nodes = write(
        tmp_path, 'id,name\nA,"two\nlines"\n\nB,"three\n\nlines"\nC,ok,extra\n', "nodes.csv"
    )
    with pytest.raises(SourceError) as info:
        load_csv(nodes, node_columns={"id": "id"}, label="Thing")
    assert info.value.line == 8
    assert "separated by ','" in str(info.value)


H = "code,type,title,synonyms\n"


@pytest.mark.parametrize(
    ("nodes", "line", "reason"),
    [
        pytest.param(b"", 1, "file is empty", id="empty-file"),
        pytest.param("\n \n", 1, "no header line", id="blank-file"),
        pytest.param(
            "id,kind,name\nD1,Disease,x\n",
            1,
            "missing columns ['code', 'type', 'title']; the header has ['id', 'kind', 'name']",
            id="missing-columns",
        ),
        pytest.param("D1,Disease,breast cancer,\n", 1, "missing columns", id="no-header"),
        pytest.param(
            "code,type,title,code\n", 1, "duplicate column names ['code']", id="duplicate-columns"
        ),
        pytest.param(
            "code,type,title,my col\n", 1, "unmapped column 'my col'", id="unmapped-not-identifier"
        ),
        pytest.param(
            "code,type,title,source\n", 1, "unmapped column 'source'", id="unmapped-reserved"
        ),
        pytest.param(H + "D1,Disease,x\n", 2, "expected 4 fields", id="too-few-fields"),
        pytest.param(H + 'D1,Disease,"a, b",x,y\n', 2, "found 5", id="too-many-fields"),
        pytest.param(
            H + "D1,Disease,x,\n,Disease,y,\n", 3, "empty required field 'code'", id="empty-id"
        ),
        pytest.param(H + "D1, ,x,\n", 2, "empty required field 'type'", id="empty-label"),
        pytest.param(
            H + "D1,Bad Label,x,\n", 2, "label 'Bad Label' is not allowed", id="bad-label"
        ),
        pytest.param(H + "D1,Disease`) DELETE n,x,\n", 2, "is not allowed", id="hostile-label"),
        pytest.param(
            H + "D1,Disease,x,\nD1,Disease,y,\n",
            3,
            "duplicate Disease node 'D1'",
            id="duplicate-node",
        ),
        pytest.param(H + 'D1,Disease,"unclosed,\n', 2, "malformed quoting", id="unclosed-quote"),
        pytest.param(H + "D1,Disease,x,\nD2,Disease", 3, "truncated last line", id="truncated"),
        pytest.param(H.encode() + b"D1,Disease,caf\xe9,\n", 2, "not valid UTF-8", id="latin1"),
        pytest.param(H.encode() + b"\x00\x00\n", 2, "NUL", id="binary"),
    ],
)
def test_malformed_nodes(tmp_path, nodes, line, reason):
    path = write(tmp_path, nodes, "nodes.csv")
    with pytest.raises(SourceError) as info:
        load_csv(path, node_columns=NODE_COLUMNS)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert f"nodes.csv:{line}: " in str(info.value)
    assert reason in str(info.value)


E = "src,dst,rel,weight\n"


@pytest.mark.parametrize(
    ("edges", "nodes", "line", "reason"),
    [
        pytest.param(
            "from,to,rel\n", NODES, 1, "missing columns ['src', 'dst']", id="missing-columns"
        ),
        pytest.param(
            E + "C1,D1,TREATS,1\nC1,X9,TREATS,1\n",
            NODES,
            3,
            "end 'X9' is not in the nodes file",
            id="unknown-end",
        ),
        pytest.param(
            E + "C1,D1,!!!,1\n", NODES, 2, "relationship type '!!!' is not allowed", id="bad-type"
        ),
        pytest.param(
            E + "C1,D1,TREATS]->() DELETE n,1\n", NODES, 2, "is not allowed", id="hostile-type"
        ),
        pytest.param(E + "C1,,TREATS,1\n", NODES, 2, "empty required field 'dst'", id="empty-end"),
        pytest.param(E + "C1,D1,TREATS\n", NODES, 2, "expected 4 fields", id="too-few"),
        pytest.param(
            E + "C1,D1,TREATS,1\nC1,D2,TREATS", NODES, 3, "truncated last line", id="truncated"
        ),
        pytest.param(
            E + "X,D1,TREATS,1\n",
            NODES + "X,Compound,x,\nX,Drug,x,\n",
            2,
            "start 'X' has several labels ['Compound', 'Drug']",
            id="ambiguous",
        ),
    ],
)
def test_malformed_edges(tmp_path, edges, nodes, line, reason):
    with pytest.raises(SourceError) as info:
        load_tiny(tmp_path, nodes=nodes, edges=edges)
    path = tmp_path / "edges.csv"
    assert (info.value.path, info.value.line) == (str(path), line)
    assert f"edges.csv:{line}: " in str(info.value)
    assert reason in str(info.value)


def test_edge_endpoint_without_any_nodes_file(tmp_path):
    edges = write(tmp_path, "a,b\nx,y\n", "edges.csv")
    with pytest.raises(SourceError, match=r"edges.csv:2: start 'x' is not in a nodes file"):
        load_csv(edges_path=edges, edge_columns={"start": "a", "end": "b"}, rel_type="R")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({}, ValueError, id="no-files"),
        pytest.param(
            {"nodes_path": "n.csv", "node_columns": {"name": "x"}, "label": "A"},
            ValueError,
            id="no-id-column",
        ),
        pytest.param(
            {"nodes_path": "n.csv", "node_columns": {"id": "x"}}, ValueError, id="no-label"
        ),
        pytest.param(
            {"edges_path": "e.csv", "edge_columns": {"start": "a"}, "rel_type": "R"},
            ValueError,
            id="no-end-column",
        ),
        pytest.param(
            {"edges_path": "e.csv", "edge_columns": {"start": "a", "end": "b"}},
            ValueError,
            id="no-type",
        ),
        pytest.param(
            {"nodes_path": "n.csv", "node_columns": {"id": "x"}, "label": "A B"},
            SchemaError,
            id="bad-fixed-label",
        ),
        pytest.param(
            {
                "edges_path": "e.csv",
                "edge_columns": {"start": "a", "end": "b"},
                "rel_type": "R]-(x) DELETE x //",
            },
            SchemaError,
            id="bad-fixed-type",
        ),
        pytest.param(
            {"nodes_path": "n.csv", "node_columns": {"id": "x", "full name": "y"}, "label": "A"},
            SchemaError,
            id="bad-property-name",
        ),
        pytest.param(
            {"nodes_path": "n.csv", "node_columns": {"id": "x", "loaded_at": "y"}, "label": "A"},
            SchemaError,
            id="reserved-property-name",
        ),
    ],
)
def test_bad_arguments_fail_before_reading(kwargs, error):
    # the paths do not exist: the arguments are refused before any file is opened
    with pytest.raises(error):
        load_csv(**kwargs)
