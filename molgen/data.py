"""Molecule files a user gives: SMILES (.smi/.txt), CSV/TSV and SDF, optionally gzipped.

:func:`read_smiles_file` reads any of them into canonical SMILES, checked by
:mod:`molgen.chem`, and says where every problem is as ``path:line``:

- an invalid molecule is skipped and listed in :attr:`SmilesFile.invalid`
  (``on_invalid="skip"``, the default) or raises :class:`MoleculeFileError`
  (``on_invalid="raise"``);
- a file that is not a molecule file raises :class:`MoleculeFileError`: empty
  or holding no valid molecule, binary (NUL bytes, not UTF-8, a broken gzip
  stream), or with a line longer than ``max_line_length`` (read in bounded
  pieces, so a multi-gigabyte line is refused without being loaded).
"""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from molgen import chem
from molgen.errors import InvalidMolecule, MoleculeFileError

log = logging.getLogger(__name__)

OnInvalid = Literal["skip", "raise"]
FileFormat = Literal["smi", "csv", "tsv", "sdf"]

# A SMILES line may be a maximal SMILES (chem.MAX_SMILES_LENGTH) plus a name;
# SDF lines are far shorter. Anything longer is not a molecule file.
MAX_LINE_LENGTH = 100_000
_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".smi": "smi", ".smiles": "smi", ".ism": "smi", ".can": "smi", ".txt": "smi",
    ".csv": "csv", ".tsv": "tsv", ".sdf": "sdf", ".sd": "sdf",
}
_NAME_COLUMNS = ("name", "id", "title", "pref_name")  # tried, case-insensitively, in this order
_SHOWN_INVALID = 10  # invalid lines logged one by one before a summary


@dataclass(frozen=True, slots=True)
class MoleculeRecord:
    smiles: str  # canonical
    input: str  # as written in the file (for SDF, RDKit's SMILES of the record)
    name: str | None
    line: int  # 1-based; for SDF the record's first line


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    line: int
    text: str
    reason: str


@dataclass
class SmilesFile:
    """The valid molecules of a file, in file order, and the invalid ones with their lines."""

    path: Path
    format: FileFormat
    records: list[MoleculeRecord] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES of the valid molecules (repeats kept)."""
        return [r.smiles for r in self.records]

    @property
    def names(self) -> list[str | None]:
        return [r.name for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def problems(self) -> list[str]:
        """``path:line: reason`` for every invalid molecule."""
        return [f"{self.path}:{r.line}: invalid molecule {r.text!r}: {r.reason}"
                for r in self.invalid]


def read_smiles_file(
    path: str | Path, *, on_invalid: OnInvalid = "skip", format: FileFormat | None = None,
    column: str | None = None, name_column: str | None = None,
    max_line_length: int = MAX_LINE_LENGTH,
) -> SmilesFile:
    """Read the molecules of a SMILES, CSV/TSV or SDF file (``.gz`` too).

    ``format`` defaults to what the suffix says (``.smi .smiles .ism .can
    .txt``, ``.csv``, ``.tsv``, ``.sdf .sd``). SMILES files hold one molecule a
    line, ``SMILES [name]``; blank lines and ``#`` comments are skipped, and a
    first line whose first field is ``smiles`` is a header. CSV/TSV files need
    a header; the SMILES column is ``column`` or else the one named ``smiles``
    in any case; names come from ``name_column`` or a ``name``/``id``/``title``
    column when there is one. SDF names are the records' title lines.
    """
    if on_invalid not in ("skip", "raise"):
        raise ValueError(f"on_invalid must be 'skip' or 'raise', got {on_invalid!r}")
    path = Path(path)
    fmt = format or _format_of(path)
    if not path.is_file():
        raise MoleculeFileError(str(path), "no such file" if not path.exists() else "not a file")
    result = SmilesFile(path=path, format=fmt)
    with _open(path) as stream:
        lines = _text_lines(stream, str(path), max_line_length)
        if fmt == "smi":
            entries = _smi_entries(lines)
        elif fmt == "sdf":
            entries = _sdf_entries(lines)
        else:
            entries = _csv_entries(lines, str(path), "\t" if fmt == "tsv" else ",", column,
                                   name_column)
        for line, text, name, failure in entries:
            cause: InvalidMolecule | None = None
            if failure is None:
                try:
                    result.records.append(
                        MoleculeRecord(chem.canonical_smiles(text), text, name, line))
                    continue
                except InvalidMolecule as err:
                    failure, cause = err.reason, err
            if on_invalid == "raise":
                raise MoleculeFileError(
                    str(path), f"invalid molecule {text!r}: {failure}", line=line) from cause
            result.invalid.append(InvalidRecord(line, text, failure))
            if len(result.invalid) <= _SHOWN_INVALID:
                log.warning("%s:%d: skipped invalid molecule %r: %s", path, line, text, failure)
    if result.invalid:
        log.warning("%s: skipped %d invalid molecule(s), kept %d", path, len(result.invalid),
                    len(result.records))
    if not result.records:
        if not result.invalid:
            raise MoleculeFileError(str(path), f"empty file: no molecules ({fmt} format)")
        first = result.invalid[0]
        raise MoleculeFileError(
            str(path), f"no valid molecule among {len(result.invalid)} (first, line {first.line}: "
            f"{first.reason})")
    return result


# --------------------------------------------------------------------------
# Bytes to checked lines


def _format_of(path: Path) -> FileFormat:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise MoleculeFileError(
            str(path), f"cannot tell the format from the suffix; use one of "
            f"{sorted(_SUFFIX_FORMATS)} (optionally + .gz) or pass format=")
    return fmt


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if path.suffix.lower() == ".gz" and not gzipped:
        raise MoleculeFileError(str(path), "named .gz but not gzip-compressed")
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _text_lines(stream: BinaryIO, path: str, max_length: int) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line, refusing binary data and overlong lines."""
    number = 0
    while True:
        try:
            raw = stream.readline(max_length + 1)
        except (gzip.BadGzipFile, EOFError, OSError) as err:
            raise MoleculeFileError(path, f"corrupt gzip stream: {err}", line=number + 1) from err
        if not raw:
            return
        number += 1
        if len(raw.rstrip(b"\r\n")) > max_length:
            raise MoleculeFileError(
                path, f"line longer than {max_length} characters: not a molecule file "
                "(or raise max_line_length)", line=number)
        if b"\x00" in raw:
            raise MoleculeFileError(path, "binary data (NUL byte): not a text molecule file",
                                    line=number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MoleculeFileError(
                path, f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}):"
                " a binary file?", line=number) from err
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        yield number, text


# Each entry: (line, SMILES or what stands for it, name, why it is invalid or None).
# Entries with None are then checked by molgen.chem.
Entry = tuple[int, str, str | None, str | None]


def _smi_entries(lines: Iterator[tuple[int, str]]) -> Iterator[Entry]:
    first = True
    for number, text in lines:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        smiles, *name = stripped.split(maxsplit=1)  # SMILES, then an optional name
        if first and smiles.lower() == "smiles":
            first = False
            continue
        first = False
        yield number, smiles, name[0] if name else None, None


def _csv_entries(lines: Iterator[tuple[int, str]], path: str, delimiter: str,
                 column: str | None, name_column: str | None) -> Iterator[Entry]:
    numbered = iter(lines)
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in numbered:
            current[0] = number
            yield text

    # strict: an unclosed quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(texts(), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        index = _column_index(header, column, path, required=True)
        name_index = (_column_index(header, name_column, path, required=True)
                      if name_column is not None else _name_index(header))
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            smiles = row[index].strip() if index < len(row) else ""
            name = row[name_index].strip() if name_index is not None and name_index < len(row) \
                else None
            yield current[0], smiles, name or None, None
    except csv.Error as err:
        raise MoleculeFileError(path, f"malformed CSV: {err}", line=current[0]) from err


def _column_index(header: list[str], wanted: str | None, path: str, *, required: bool) -> int:
    cleaned = [h.strip() for h in header]
    target = wanted if wanted is not None else "smiles"
    if target in cleaned:
        return cleaned.index(target)
    lowered = [h.lower() for h in cleaned]
    if target.lower() in lowered:
        return lowered.index(target.lower())
    hint = "" if wanted is not None else "; name the SMILES column with column="
    raise MoleculeFileError(path, f"no column {target!r} in the header {cleaned}{hint}", line=1)


def _name_index(header: list[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for candidate in _NAME_COLUMNS:
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def _sdf_entries(lines: Iterator[tuple[int, str]]) -> Iterator[Entry]:
    block: list[str] = []
    start = 0
    for number, text in lines:
        if not block:
            start = number
        if text.rstrip("\r\n") == "$$$$":
            yield _sdf_entry(start, block)
            block = []
            continue
        block.append(text)
    if any(line.strip() for line in block):  # last record without its "$$$$"
        yield _sdf_entry(start, block)


def _sdf_entry(start: int, block: list[str]) -> Entry:
    name = block[0].strip() if block else ""
    try:
        mol = chem.mol_from_molblock("".join(block))
    except InvalidMolecule as err:
        return start, f"<SDF record {name or start}>", name or None, err.reason
    # Its SMILES is then checked by chem.to_mol like any other input (an
    # atom-less record spells "" and is refused as an empty SMILES).
    return start, chem.canonical_smiles(mol), name or None, None
