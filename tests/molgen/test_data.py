"""Reading user molecule files: SMILES, CSV/TSV, SDF (and gzipped), with every
problem reported as path:line, and clear errors for files that are not molecule
files at all (empty, binary, huge lines)."""

from __future__ import annotations

import gzip
import logging
import re

import pytest
from rdkit import Chem

from molgen.data import MAX_LINE_LENGTH, read_smiles_file
from molgen.errors import MoleculeFileError, MolgenError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"
CANONICAL = {s: Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in (ASPIRIN, CAFFEINE, IBUPROFEN)}

SMI = f"""SMILES Name
# approved drugs
{ASPIRIN} aspirin

{CAFFEINE}\tcaffeine (anhydrous)
C1CC broken ring
{IBUPROFEN}
"""


def write(tmp_path, name, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_smi_file_names_lines_and_skipped_invalid(tmp_path, caplog):
    path = write(tmp_path, "drugs.smi", SMI)
    with caplog.at_level(logging.WARNING, logger="molgen.data"):
        result = read_smiles_file(path)
    assert result.smiles == [CANONICAL[ASPIRIN], CANONICAL[CAFFEINE], CANONICAL[IBUPROFEN]]
    assert result.names == ["aspirin", "caffeine (anhydrous)", None]
    assert [r.line for r in result.records] == [3, 5, 7]
    assert result.records[0].input == ASPIRIN
    [bad] = result.invalid
    assert (bad.line, bad.text) == (6, "C1CC")
    assert "unclosed ring" in bad.reason
    assert result.problems() == [f"{path}:6: invalid molecule 'C1CC': {bad.reason}"]
    assert f"{path}:6: skipped invalid molecule 'C1CC'" in caplog.text


def test_raise_mode_names_file_and_line(tmp_path):
    path = write(tmp_path, "drugs.smi", SMI)
    with pytest.raises(MoleculeFileError) as info:
        read_smiles_file(path, on_invalid="raise")
    err = info.value
    assert str(err).startswith(f"{path}:6: invalid molecule 'C1CC'")
    assert (err.line, err.path) == (6, str(path))
    assert isinstance(err, MolgenError) and isinstance(err, ValueError)
    assert err.__cause__ is not None  # the InvalidMolecule with RDKit's reason


def test_csv_smiles_column_found_case_insensitively(tmp_path):
    path = write(tmp_path, "drugs.csv", (
        "id,Smiles,note\n"
        f"D1,{ASPIRIN},\"analgesic, antiplatelet\"\n"
        "D2,C(C)(C)(C)(C)C,pentavalent\n"
        f"D3,{CAFFEINE},stimulant\n"))
    result = read_smiles_file(path)
    assert result.smiles == [CANONICAL[ASPIRIN], CANONICAL[CAFFEINE]]
    assert result.names == ["D1", "D3"]
    assert [r.line for r in result.records] == [2, 4]
    assert result.invalid[0].line == 3
    assert "valence" in result.invalid[0].reason


def test_csv_explicit_columns_and_tsv(tmp_path):
    path = write(tmp_path, "drugs.tsv", f"structure\tlabel\n{ASPIRIN}\taspirin\n")
    result = read_smiles_file(path, column="structure", name_column="label")
    assert result.smiles == [CANONICAL[ASPIRIN]] and result.names == ["aspirin"]


def test_csv_without_smiles_column_lists_header(tmp_path):
    path = write(tmp_path, "drugs.csv", f"id,structure\n1,{ASPIRIN}\n")
    with pytest.raises(MoleculeFileError, match=r"no column 'smiles' in the header \['id', "
                       r"'structure'\]; name the SMILES column with column="):
        read_smiles_file(path)
    with pytest.raises(MoleculeFileError, match="no column 'mol'"):
        read_smiles_file(path, column="mol")


def test_sdf_records_with_a_broken_one(tmp_path):
    path = tmp_path / "drugs.sdf"
    writer = Chem.SDWriter(str(path))
    for name, smiles in [("aspirin", ASPIRIN), ("caffeine", CAFFEINE), ("ibuprofen", IBUPROFEN)]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        writer.write(mol)
    writer.close()
    records = path.read_text().split("$$$$\n")
    # Break caffeine: its first bond points at atom 99, which does not exist.
    lines = records[1].splitlines(keepends=True)
    counts = lines[3]
    n_atoms = int(counts[:3])
    lines[4 + n_atoms] = "  1 99  1  0\n"
    records[1] = "".join(lines)
    path.write_text("$$$$\n".join(records))
    caffeine_start = records[0].count("\n") + 2

    result = read_smiles_file(path)
    assert result.smiles == [CANONICAL[ASPIRIN], CANONICAL[IBUPROFEN]]
    assert result.names == ["aspirin", "ibuprofen"]
    assert result.records[0].line == 1
    [bad] = result.invalid
    assert bad.line == caffeine_start
    assert bad.text == "<SDF record caffeine>"
    assert "Stacktrace" not in bad.reason  # RDKit's C++ trace is cut off


def test_gzipped_smiles(tmp_path):
    path = tmp_path / "drugs.smi.gz"
    path.write_bytes(gzip.compress(SMI.encode()))
    assert len(read_smiles_file(path)) == 3


def test_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path, "drugs.csv", ("\ufeffSMILES\n" + ASPIRIN + "\n").encode("utf-8"))
    assert read_smiles_file(path).smiles == [CANONICAL[ASPIRIN]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.smi", "", "empty file: no molecules"),
        ("comments.smi", "# nothing here\n\n", "empty file: no molecules"),
        ("header.csv", "smiles,name\n", "empty file: no molecules"),
        ("junk.smi", "C1CC\nhello\n", "no valid molecule among 2 (first, line 1:"),
        ("image.smi", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ":1: not UTF-8 text (byte 0x89"),
        ("nul.smi", b"CCO\nCC\x00garbage\n", ":2: binary data (NUL byte)"),
        ("latin1.smi", "CCO\nCC\xe9\n".encode("latin-1"), ":2: not UTF-8 text (byte 0xe9 at col"),
        ("huge.smi", "CCO\n" + "C" * (MAX_LINE_LENGTH + 10) + "\n", ":2: line longer than 100000"),
        ("fake.smi.gz", "CCO\n", "named .gz but not gzip-compressed"),
        ("drugs.mol2", "CCO\n", "cannot tell the format from the suffix"),
    ],
)
def test_files_that_are_not_molecule_files(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(MoleculeFileError, match=re.escape(message)) as info:
        read_smiles_file(path)
    assert str(info.value).startswith(str(path))


def test_huge_line_is_refused_without_reading_it_whole(tmp_path):
    # 50 MB on one line: refused after reading max_line_length + 1 bytes of it.
    path = tmp_path / "huge.smi"
    with path.open("w") as f:
        f.write("C" * 50_000_000)
    with pytest.raises(MoleculeFileError, match=":1: line longer than 1000 characters"):
        read_smiles_file(path, max_line_length=1000)


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(SMI.encode() * 50)
    path = write(tmp_path, "drugs.smi.gz", data[: len(data) // 2])
    with pytest.raises(MoleculeFileError, match="corrupt gzip stream"):
        read_smiles_file(path)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(MoleculeFileError, match="no such file"):
        read_smiles_file(tmp_path / "absent.smi")
    with pytest.raises(MoleculeFileError, match="not a file"):
        read_smiles_file(tmp_path, format="smi")
    with pytest.raises(ValueError, match="on_invalid"):
        read_smiles_file(tmp_path / "absent.smi", on_invalid="ignore")


def test_format_override(tmp_path):
    path = write(tmp_path, "drugs.dat", f"{ASPIRIN} aspirin\n")
    assert read_smiles_file(path, format="smi").names == ["aspirin"]
