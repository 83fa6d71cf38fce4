"""Encodings: UTF-8 with or without a byte-order mark and UTF-16 with one (either byte
order) are read, to the same graph; anything else is refused naming the line."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_refused

TRIPLES = "aspirin\ttreats\tüber-headache\nβ-lactam\tmay cause\trash 🧪\n"
CSV = 'id,name\nx1,"Müller, ""the"" β"\nx2,日本\n'


def encodings(text: str) -> dict[str, bytes]:
    return {"utf-8": text.encode("utf-8"), "utf-8-bom": text.encode("utf-8-sig"),
            "utf-16-le-bom": text.encode("utf-16"),  # Python writes the BOM, little-endian
            "utf-16-be-bom": b"\xfe\xff" + text.encode("utf-16-be")}


@pytest.mark.neo4j
@pytest.mark.parametrize("kind", ["triples", "csv"])
def test_utf8_and_utf16_with_a_bom_read_the_same(hostile, tmp_path, kind):
    run, snap = hostile
    graphs = []
    for enc, data in encodings(TRIPLES if kind == "triples" else CSV).items():
        path = tmp_path / f"{enc}.{'tsv' if kind == 'triples' else 'csv'}"
        path.write_bytes(data)
        argv = (["kg", "load", "triples", str(path)] if kind == "triples"
                else ["kg", "load", "csv", "--nodes", str(path), "--label", "Entity"])
        result = run(*argv)
        assert result.code == 0, (enc, result)
        graph = snap()
        # provenance differs by file (its hash and load time); the data must not
        for n in graph["nodes"]:
            for key in ("source_version", "loaded_at"):
                n["p"].pop(key, None)
        for r in graph["rels"]:
            for key in ("source_version", "loaded_at"):
                r["p"].pop(key, None)
        graphs.append(graph)
    assert all(g == graphs[0] for g in graphs[1:])
    names = {n["p"].get("name") for n in graphs[0]["nodes"]} | {
        n["p"]["id"] for n in graphs[0]["nodes"]}
    assert ({"über-headache", "rash 🧪"} if kind == "triples"
            else {'Müller, "the" β', "日本"}) <= names


@pytest.mark.neo4j
@pytest.mark.parametrize(("data", "fragments"), [
    ("a\tr\tb\n".encode("utf-16-le"), ["t.tsv:1", "NUL"]),  # UTF-16 without a BOM
    ("a\tr\tb\n".encode("utf-32"), ["t.tsv:1", "UTF-32"]),
    ("a\tr\tb\nc\tr\tcaf\xe9\n".encode("cp1252"), ["t.tsv:2", "UTF-8"]),
    ("a\tr\tb\nc\tr\t\u00e9\n".encode("utf-16")[:-1], ["t.tsv:2", "UTF-16"]),  # cut in a char
    (b"\xef\xbb\xbfa\tr\tb\n\xc3\x28\tr\tb\n", ["t.tsv:2", "UTF-8"]),  # BOM, then bad bytes
], ids=["utf16-no-bom", "utf32", "cp1252", "utf16-odd-bytes", "utf8-bom-then-invalid"])
def test_other_encodings_are_refused_naming_the_line(hostile, tmp_path, data, fragments):
    run, snap = hostile
    before = snap()
    path = tmp_path / "t.tsv"
    path.write_bytes(data)
    assert_refused(run("kg", "load", "triples", str(path)), *fragments)
    assert snap() == before
