import hashlib
from pathlib import Path

import pytest

from kg.errors import SchemaError, SourceError
from kg.sources.triples import DUPLICATES, load_triples, load_triples_files

DDB14 = Path(__file__).parents[3].parent / "shared" / "data" / "kg" / "ddb14"
HOSTILE = ["'}) DETACH DELETE n //", 'a"b`c\\d', "β-lactam 🧪", "x MATCH (m) SET m.p = 1"]


def write(tmp_path: Path, data: str | bytes, name: str = "triples.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(table) -> list[tuple]:
    return [tuple(r) for r in table.frame.itertuples(index=False)]


def by_type(tables) -> dict:
    return {(t.type, t.start_label, t.end_label): rows(t) for t in tables.edges}


TINY = (
    "aspirin\tmay cause\tulcer\n"
    "aspirin\tbelong(s) to the category of\tnsaid\n"
    "ibuprofen\tmay cause\tulcer\n"
    "aspirin\tmay cause\tulcer\n"
)


def test_tiny_file_exact_tables(tmp_path):
    path = write(tmp_path, TINY)
    tables = load_triples(path)

    assert [t.label for t in tables.nodes] == ["Entity"]
    assert list(tables.nodes[0].frame.columns) == ["id", "name"]
    assert rows(tables.nodes[0]) == [
        ("aspirin", "aspirin"),
        ("ulcer", "ulcer"),
        ("nsaid", "nsaid"),
        ("ibuprofen", "ibuprofen"),
    ]
    assert by_type(tables) == {
        ("BELONG_S_TO_THE_CATEGORY_OF", "Entity", "Entity"): [
            ("aspirin", "nsaid", "belong(s) to the category of"),
        ],
        ("MAY_CAUSE", "Entity", "Entity"): [
            ("aspirin", "ulcer", "may cause"),
            ("ibuprofen", "ulcer", "may cause"),
        ],
    }
    assert list(tables.edges[0].frame.columns) == ["start", "end", "relation"]
    assert tables.skipped == {DUPLICATES: 1}
    assert tables.provenance.source == "triples"
    assert tables.provenance.version == hashlib.sha1(TINY.encode()).hexdigest()[:12]


def test_relation_map_and_label_map(tmp_path):
    path = write(tmp_path, TINY)
    tables = load_triples(
        path,
        relation_map={"may cause": "CAUSES", "belong(s) to the category of": "IN_CATEGORY"},
        label_map={"aspirin": "Drug", "ibuprofen": "Drug", "ulcer": "Disease"},
        source="mydb",
        version="2024-01",
    )
    assert {t.label: rows(t) for t in tables.nodes} == {
        "Disease": [("ulcer", "ulcer")],
        "Drug": [("aspirin", "aspirin"), ("ibuprofen", "ibuprofen")],
        "Entity": [("nsaid", "nsaid")],
    }
    assert by_type(tables) == {
        ("CAUSES", "Drug", "Disease"): [
            ("aspirin", "ulcer", "may cause"),
            ("ibuprofen", "ulcer", "may cause"),
        ],
        ("IN_CATEGORY", "Drug", "Entity"): [("aspirin", "nsaid", "belong(s) to the category of")],
    }
    assert (tables.provenance.source, tables.provenance.version) == ("mydb", "2024-01")


def test_relations_that_share_a_type_collapse(tmp_path):
    path = write(tmp_path, "a\tmay cause\tb\na\tmay-cause\tb\n")
    tables = load_triples(path)
    assert by_type(tables) == {("MAY_CAUSE", "Entity", "Entity"): [("a", "b", "may cause")]}
    assert tables.skipped == {DUPLICATES: 1}


def test_crlf_and_blank_lines(tmp_path):
    path = write(tmp_path, "a\tr\tb\r\n\r\nc\tr\td\r\n\n")
    tables = load_triples(path)
    assert rows(tables.edges[0]) == [("a", "b", "r"), ("c", "d", "r")]


def test_hostile_strings_round_trip_verbatim(tmp_path):
    lines = [f"{h}\tmay cause\t{t}\n" for h, t in zip(HOSTILE, reversed(HOSTILE), strict=True)]
    path = write(tmp_path, "".join(lines))
    tables = load_triples(path)
    assert sorted(rows(tables.nodes[0])) == sorted((h, h) for h in HOSTILE)
    assert rows(tables.edges[0]) == [
        (h, t, "may cause") for h, t in zip(HOSTILE, reversed(HOSTILE), strict=True)
    ]


def test_several_files_load_together(tmp_path):
    a = write(tmp_path, "a\tr\tb\n", "train.txt")
    b = write(tmp_path, "b\tr\tc\na\tr\tb\n", "test.txt")
    tables = load_triples_files([a, b])
    assert rows(tables.nodes[0]) == [("a", "a"), ("b", "b"), ("c", "c")]
    assert rows(tables.edges[0]) == [("a", "b", "r"), ("b", "c", "r")]
    assert tables.skipped == {DUPLICATES: 1}
    expected = hashlib.sha1(a.read_bytes() + b.read_bytes()).hexdigest()[:12]
    assert tables.provenance.version == expected


@pytest.mark.parametrize(
    ("data", "line", "reason", "kwargs"),
    [
        pytest.param(b"", 1, "file is empty", {}, id="empty-file"),
        pytest.param(b"a\tr\tb\nc\tr\n", 2, "expected 3 fields", {}, id="too-few-fields"),
        pytest.param(b"a\tr\tb\tx\n", 1, "found 4", {}, id="too-many-fields"),
        pytest.param(b"a r b\n", 1, "found 1", {}, id="spaces-not-tabs"),
        pytest.param(b"a\tr\tb\n\tr\tb\n", 2, "empty required field 'head'", {}, id="empty-head"),
        pytest.param(b"a\t \tb\n", 1, "empty required field 'relation'", {}, id="blank-rel"),
        pytest.param(b"a\tr\tb\nc\tr\t\xff\xfe\n", 2, "not valid UTF-8", {}, id="not-utf8"),
        pytest.param(b"a\tr\tb\nc\x00\tr\tb\n", 2, "NUL", {}, id="binary"),
        pytest.param(b"a\tr\tb\nc\tr", 2, "truncated last line", {}, id="truncated"),
        pytest.param(b"a\tr\tb\nc\t!!!\td\n", 2, "cannot be made into", {}, id="bad-relation"),
        pytest.param(
            b"a\tr\tb\nc\ts\td\n",
            2,
            "'s' is not in the relation map",
            {"relation_map": {"r": "R"}},
            id="unmapped-relation",
        ),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, data, line, reason, kwargs):
    path = write(tmp_path, data)
    with pytest.raises(SourceError) as info:
        load_triples(path, **kwargs)
    err = info.value
    assert (err.path, err.line) == (str(path), line)
    assert f"{path}:{line}: " in str(err)
    assert reason in str(err)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"entity_label": "Bad Label"},
        {"entity_label": "`x`"},
        {"label_map": {"a": "Drug) DETACH DELETE (n"}},
        {"relation_map": {"r": "R]->() DELETE n //"}},
    ],
)
def test_names_given_as_arguments_must_be_identifiers(tmp_path, kwargs):
    path = write(tmp_path, "a\tr\tb\n")
    with pytest.raises(SchemaError):
        load_triples(path, **kwargs)


def test_no_files_given():
    with pytest.raises(ValueError):
        load_triples_files([])


def test_ddb14_real_files():
    splits = {name: DDB14 / f"{name}.txt" for name in ("train", "valid", "test")}
    tables = load_triples_files(splits.values(), source="ddb14")

    assert tables.node_counts() == {"Entity": 9203}
    counts = tables.edge_counts()
    assert len(counts) == 14
    assert sum(counts.values()) == 44561
    assert tables.skipped == {}  # DDB14 has no repeated triple
    assert counts["MAY_CAUSE"] == 27421
    assert counts["BELONG_S_TO_THE_CATEGORY_OF"] == 9181
    assert counts["IS_AN_INGREDIENT_OF"] == 6
    assert {t.start_label for t in tables.edges} == {"Entity"}

    # 36,561 / 4,000 / 4,000, and 103 valid / 118 test triples with an entity unseen in training
    train = load_triples(splits["train"])
    seen = set(train.nodes[0].frame["id"])
    assert sum(train.edge_counts().values()) == 36561
    for name, unseen in (("valid", 103), ("test", 118)):
        split = load_triples(splits[name])
        assert sum(split.edge_counts().values()) == 4000
        assert (
            sum(
                int((~t.frame["start"].isin(seen) | ~t.frame["end"].isin(seen)).sum())
                for t in split.edges
            )
            == unseen
        )
