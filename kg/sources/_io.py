"""Line-numbered reading of delimited text files, shared by the loaders.

Every check that concerns the file as text (UTF-8, no binary content, not
empty, the header, the number of fields, empty required fields, a truncated
last line) lives here once, so that all loaders report bad input the same
way: :class:`SourceError` with the file and the 1-based line number.
Field values are returned verbatim apart from the line terminator; what a
value means is the loader's business.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from kg.errors import SchemaError, SourceError

_UTF8_HINT = "save the file as UTF-8 text"


@dataclass(frozen=True)
class Row:
    """One record: the line it starts on and its fields by column name."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]


def file_version(paths: Iterable[str | Path]) -> str:
    """First 12 hex digits of the sha1 of the files' bytes, in order."""
    digest = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _open_binary(path: Path):
    # Hetionet and others publish gzipped files; reading them as-is saves users a step.
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def decoded_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` with the terminator kept, so a caller can
    tell a complete last line from a truncated one.

    Reads UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order
    mark (what spreadsheet programs write as "Unicode text"). Raises SourceError
    for an empty file, NUL bytes, any other encoding (naming the first line that
    does not decode) and broken gzip data.
    """
    path = Path(path)
    n = 0
    try:
        with _open_binary(path) as fh:
            head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
            if head.startswith(_UTF32_BOMS):
                raise SourceError(path, 1, "UTF-32 text is not read", _UTF8_HINT)
            if head.startswith(_UTF16_BOMS):
                yield from _utf16_lines(path, fh)
                return
            for n, raw in enumerate(fh, start=1):
                if b"\x00" in raw:
                    raise SourceError(
                        path, n, "binary content (NUL byte), not a text file", _UTF8_HINT
                    )
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise SourceError(
                        path, n, f"not valid UTF-8 (byte {raw[err.start]:#04x})", _UTF8_HINT
                    ) from err
                if n == 1:
                    text = text.removeprefix("\ufeff")  # a BOM is not part of the first field
                yield n, text
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise SourceError(path, n + 1, f"broken gzip data: {err}", "re-download the file") from err
    if n == 0:
        raise SourceError(path, 1, "file is empty", "expected at least one line of data")


def _utf16_lines(path: Path, fh) -> Iterator[tuple[int, str]]:
    """The lines of a UTF-16 file with a byte-order mark (the mark itself dropped)."""
    # newline="\n": split on LF only and keep terminators, as for UTF-8 above
    text = io.TextIOWrapper(fh, encoding="utf-16", newline="\n")
    n = 0
    while True:
        try:
            line = text.readline()
        except UnicodeDecodeError as err:
            raise SourceError(path, n + 1, "not valid UTF-16 text", _UTF8_HINT) from err
        if not line:
            break
        n += 1
        if "\x00" in line:
            raise SourceError(path, n, "binary content (NUL character), not a text file",
                              _UTF8_HINT)
        yield n, line
    if n == 0:
        raise SourceError(path, 1, "file is empty", "expected at least one line of data")


def _strip_terminator(text: str) -> tuple[str, bool]:
    if text.endswith("\r\n"):
        return text[:-2], True
    if text.endswith("\n"):
        return text[:-1], True
    return text, False


def _check_required(path: Path, row: Row, required: Collection[str]) -> None:
    for column in required:
        if not row.values[column].strip():
            raise SourceError(path, row.line, f"empty required field {column!r}")


def _count_error(
    path: Path, line: int, columns: Sequence[str], found: int, complete: bool, hint: str
) -> SourceError:
    what = f"expected {len(columns)} fields ({', '.join(columns)}), found {found}"
    if not complete:
        return SourceError(
            path,
            line,
            f"truncated last line: {what} and no trailing newline",
            "the file may have been cut off; fetch it again",
        )
    return SourceError(path, line, what, hint)


@dataclass
class Table:
    """A tab-separated file's data rows as strings, with their 1-based line numbers."""

    path: Path
    frame: pd.DataFrame  # one str column per header column, values verbatim ("" if empty)
    lines: list[int]  # lines[i] is the file line of frame row i

    def check(self, column: str, pattern: re.Pattern[str], what: str) -> None:
        """Raise SourceError at the first row whose ``column`` does not fully match."""
        values = self.frame[column]
        # ids repeat a lot (19K terms over 270K rows): match each distinct value once
        wrong = [v for v in pd.unique(values) if not pattern.fullmatch(v)]
        if wrong:
            i = int(values.isin(wrong).to_numpy().argmax())
            raise SourceError(self.path, self.lines[i],
                              f"{column} {values.iat[i]!r} is not {what}")

    def error_at(self, mask: pd.Series, reason: str) -> SourceError:
        """A SourceError at the first row where ``mask`` holds."""
        return SourceError(self.path, self.lines[int(mask.to_numpy().argmax())], reason)

    def rows(self) -> Iterator[Row]:
        columns = list(self.frame.columns)
        for line, values in zip(self.lines, self.frame.itertuples(index=False, name=None),
                                strict=True):
            yield Row(line, dict(zip(columns, values, strict=True)))


def read_table(
    path: str | Path,
    columns: Sequence[str],
    *,
    header: bool = True,
    exact: bool = True,
    required: Collection[str] = (),
    comment: str | None = None,
    kind: str = "",
) -> Table:
    """The one reader of tab-separated sources (HPO, triples, Hetionet).

    The file is decoded by :func:`decoded_lines` (UTF-8 with or without a BOM, UTF-16
    with a BOM; anything else refused naming the line). With ``header``, the first line
    (after leading ``comment`` lines) is the header: exactly ``columns`` in order when
    ``exact``, else it must contain them (other columns are kept). Without it the rows
    have exactly ``columns``. Every row has as many fields as the header; values in
    ``required`` are non-blank; blank lines are skipped. No quoting: a quote is a plain
    character (a disease name may hold one).

    The lines are checked in Python and split by pandas' C parser: on HPO's 270,000-row
    phenotype.hpoa that is several times faster than splitting them in Python.
    """
    path = Path(path)
    columns = tuple(columns)
    if not path.is_file():
        raise SourceError(path, None, "file not found" if not path.exists() else "not a file")
    kind_hint = f"expected a {kind} file" if kind else "is this the right file?"
    texts: list[str] = []
    numbers: list[int] = []
    complete = True
    names: list[str] | None = None if header else list(columns)
    header_line = 0
    for n, text in decoded_lines(path):
        text, complete = _strip_terminator(text)
        if names is None:
            if comment and text.startswith(comment):
                continue
            if not text.strip():
                continue
            names, header_line = text.split("\t"), n
            _check_header(path, n, names, columns, exact, kind_hint)
            continue
        if not text:
            continue
        texts.append(text)
        numbers.append(n)
    if names is None:
        raise SourceError(path, 1, "file has no header line",
                          f"expected {'<TAB>'.join(columns)!r}")
    width = len(names) - 1
    for i, text in enumerate(texts):
        if text.count("\t") != width:
            last = i == len(texts) - 1
            raise _count_error(path, numbers[i], names, text.count("\t") + 1,
                               complete or not last, "fields are separated by a single tab")
    if header and not texts and not exact:
        raise SourceError(path, header_line, "no data rows after the header",
                          "the file looks truncated")
    frame = (pd.read_csv(io.StringIO("\n".join(texts)), sep="\t", header=None, names=names,
                         dtype=object, quoting=csv.QUOTE_NONE, na_filter=False,
                         lineterminator="\n", engine="c")
             if texts else pd.DataFrame({c: pd.Series([], dtype=object) for c in names}))
    table = Table(path, frame, numbers)
    for column in required:
        blank = frame[column].str.strip() == ""
        if blank.any():
            raise table.error_at(blank, f"empty required field {column!r}")
    return table


def _check_header(path: Path, line: int, names: list[str], columns: tuple[str, ...],
                  exact: bool, hint: str) -> None:
    if exact:
        if tuple(names) != columns:
            raise SourceError(path, line, f"expected header {'<TAB>'.join(columns)!r}, "
                              f"found {'<TAB>'.join(names)!r}", hint)
        return
    missing = [c for c in columns if c not in names]
    if missing:
        raise SourceError(path, line, f"header lacks column(s) {', '.join(missing)}",
                          f"{hint} with columns {', '.join(columns)}")
    if len(set(names)) != len(names):
        raise SourceError(path, line, "header repeats a column name")


def read_tsv(
    path: str | Path,
    columns: Sequence[str],
    *,
    header: bool,
) -> Iterator[Row]:
    """The rows of a tab-separated file with exactly ``columns``, every field non-blank
    (:func:`read_table`, row by row)."""
    yield from read_table(path, columns, header=header, exact=True, required=columns).rows()


class CsvTable(NamedTuple):
    header: list[str]
    header_line: int
    rows: Iterator[Row]


def read_csv(
    path: str | Path,
    *,
    delimiter: str = ",",
    need: Collection[str] = (),
    required: Collection[str] = (),
) -> CsvTable:
    """Open a delimited file with a header row, parsed by :mod:`csv`.

    Quoted fields may hold the delimiter and newlines; a row's line is the
    physical line where its record starts. The header must name every
    column in ``need``; values in ``required`` columns must be non-blank.
    Blank lines are skipped.
    """
    path = Path(path)
    state = {"complete": True}

    def lines() -> Iterator[str]:
        for _, text in decoded_lines(path):
            state["complete"] = text.endswith("\n")
            yield text

    # strict: an unclosed quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(lines(), delimiter=delimiter, strict=True)

    def records() -> Iterator[tuple[int, list[str]]]:
        start = 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise SourceError(path, start, f"malformed quoting: {err}") from err
            # spreadsheets export empty rows as ",,,": no record, like an empty line
            if any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1

    stream = records()
    first = next(stream, None)
    if first is None:
        raise SourceError(path, 1, "file has no header line", f"expected columns {list(need)}")
    header_line, header = first
    if len(set(header)) != len(header):
        dupes = sorted({c for c in header if header.count(c) > 1})
        raise SourceError(path, header_line, f"duplicate column names {dupes}")
    missing = [c for c in need if c not in header]
    if missing:
        raise SourceError(
            path,
            header_line,
            f"missing columns {missing}; the header has {header}",
            "fix the column mapping or the file's header",
        )

    def rows() -> Iterator[Row]:
        for n, fields in stream:
            if len(fields) != len(header):
                raise _count_error(
                    path,
                    n,
                    header,
                    len(fields),
                    state["complete"],
                    f"fields are separated by {delimiter!r}; quote values that contain it",
                )
            row = Row(n, dict(zip(header, fields, strict=True)))
            _check_required(path, row, required)
            yield row

    return CsvTable(header, header_line, rows())


def schema_name(path: Path, line: int, check: Callable[[str], str], name: str) -> str:
    """Run a schema check (e.g. ``Schema.add_label``) on a name read from a
    file, reporting a refusal as bad input at that line."""
    try:
        return check(name)
    except SchemaError as err:
        raise SourceError(path, line, str(err)) from err
