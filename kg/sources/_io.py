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
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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


def decoded_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` with the terminator kept, so a caller can
    tell a complete last line from a truncated one.

    Raises SourceError for an empty file, NUL bytes and invalid UTF-8.
    """
    path = Path(path)
    n = 0
    try:
        with _open_binary(path) as fh:
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


def read_tsv(
    path: str | Path,
    columns: Sequence[str],
    *,
    header: bool,
) -> Iterator[Row]:
    """Stream a tab-separated file with exactly ``columns``.

    With ``header=True`` the first line must name exactly these columns, in
    order. Every field must be non-blank. Empty lines are skipped.
    """
    path = Path(path)
    columns = tuple(columns)
    expect_header = header
    for n, text in decoded_lines(path):
        text, complete = _strip_terminator(text)
        if not text:
            continue
        fields = text.split("\t")
        if expect_header:
            expect_header = False
            if tuple(fields) != columns:
                raise SourceError(
                    path,
                    n,
                    f"expected header {'<TAB>'.join(columns)!r}, found {text!r}",
                    "is this the right file?",
                )
            continue
        if len(fields) != len(columns):
            raise _count_error(
                path, n, columns, len(fields), complete, "fields are separated by a single tab"
            )
        row = Row(n, dict(zip(columns, fields, strict=True)))
        _check_required(path, row, columns)
        yield row
    if expect_header:
        raise SourceError(path, 1, "file has no header line", f"expected {'<TAB>'.join(columns)!r}")


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
