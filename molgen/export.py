"""Generated molecules handed to screening: one table, written as CSV and SDF.

:func:`candidate_table` turns raw generator output (canonical SMILES or None)
into one row per distinct valid molecule: its InChIKey (the identity used in
the graph), canonical SMILES, the properties of :mod:`molgen.chem` and the
rule-filter flags. :func:`write_csv` writes it for pandas and spreadsheets;
:func:`write_sdf` writes it for docking and screening tools, every column as
an SD tag, optionally with a 3D conformer (ETKDG embedding, MMFF94 minimised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen import chem
from molgen.errors import InvalidMolecule

# Columns every candidate table starts with; extra columns (method, seed,
# tanimoto, run_id, ...) follow in the order given.
ID_COLUMNS = ("id", "smiles")
FLAG_COLUMNS = ("lipinski", "veber", "pains", "brenk", "passes_filters")
DESCRIBE_CHUNK = 250  # molecules a worker task of candidate_table


def _describe(texts: Sequence[str | None]) -> list[dict | None]:
    """The identity, properties and flags of each text, None where it is not a valid
    molecule (the per-molecule work of :func:`candidate_table`), one kind of work at a
    time across the texts (faster, see :func:`molgen.chem.properties_many`)."""
    mols: dict[int, Chem.Mol] = {}  # position -> molecule, valid texts only
    keys: dict[int, str] = {}
    for i, text in enumerate(texts):
        if text is None:
            continue
        try:
            mol = chem.to_mol(text)
            keys[i] = chem.inchikey(mol)
        except InvalidMolecule:
            continue
        mols[i] = mol
    pains = [chem.pains_matches(mol) for mol in mols.values()]
    brenk = [chem.brenk_matches(mol) for mol in mols.values()]
    rows: list[dict | None] = [None] * len(texts)
    for i, mol, values, p, b in zip(mols, mols.values(), chem.properties_many(mols.values()),
                                     pains, brenk, strict=True):
        lipinski, veber = chem.lipinski(mol, values=values), chem.veber(mol, values=values)
        rows[i] = {"id": keys[i], "smiles": Chem.MolToSmiles(mol), **values,
                   "lipinski": lipinski, "veber": veber, "pains": ";".join(p),
                   "brenk": ";".join(b), "passes_filters": lipinski and veber and not p}
    return rows


def _warm() -> None:
    _describe(["CCO"])  # loads the PAINS, Brenk, QED and SA data a first molecule would


def describe_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for :func:`candidate_table` (use as a context), started now and
    warmed: each imports RDKit and loads its alert catalogues, about 2 s, which
    overlaps whatever the caller does meanwhile (e.g. sampling)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    for _ in range(workers):
        pool.submit(_warm)
    return pool


def candidate_table(smiles: Sequence[str | None], extra: pd.DataFrame | None = None,
                    *, training: set[str] | None = None, workers: int = 1,
                    chunk_size: int = DESCRIBE_CHUNK,
                    pool: ProcessPoolExecutor | None = None,
                    progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """One row per distinct valid molecule of ``smiles``, first occurrence kept.

    ``extra`` (same length and order as ``smiles``) adds columns per input,
    such as the seed a molecule came from. ``training`` (canonical SMILES)
    adds a ``novel`` column. Invalid entries (None or refused by
    :func:`molgen.chem.to_mol`) are dropped. Columns: ``id`` (InChIKey),
    ``smiles`` (canonical), the :data:`molgen.chem.PROPERTY_NAMES`,
    ``lipinski``/``veber`` (bool), ``pains``/``brenk`` (alert names joined by
    ``;``, empty when none), ``passes_filters`` (Lipinski, Veber and no PAINS
    alert), then ``novel`` and ``extra``'s columns.

    The RDKit work (~1.7 ms a MOSES molecule, most of it properties, PAINS
    and Brenk matching) runs in ``workers`` processes, ``chunk_size`` molecules a
    task, when ``workers > 1``, or in ``pool`` (:func:`describe_pool`) when
    given; the table is the same either way. ``progress``, if given, is called
    with the number of inputs of each chunk described (for a bar).
    """
    if extra is not None and len(extra) != len(smiles):
        raise ValueError(f"extra has {len(extra)} rows for {len(smiles)} molecules")
    if workers < 1 or chunk_size < 1:
        raise ValueError(f"workers and chunk_size must be >= 1, got {workers}, {chunk_size}")
    texts = list(smiles)
    chunks = [texts[i:i + chunk_size] for i in range(0, len(texts), chunk_size)]

    def collect(parts: Iterable[list]) -> list:
        rows = []
        for part in parts:  # in chunk order, as map yields them
            rows += part
            if progress is not None:
                progress(len(part))
        return rows

    if pool is not None:
        described = collect(pool.map(_describe, chunks))
    elif workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(min(workers, len(chunks)),
                                 mp_context=get_context("spawn")) as own:
            described = collect(own.map(_describe, chunks))
    else:
        described = collect(map(_describe, chunks))
    extra_rows = extra.to_dict("records") if extra is not None else None
    rows: list[dict] = []
    seen: set[str] = set()
    for i, row in enumerate(described):
        if row is None or row["id"] in seen:
            continue
        seen.add(row["id"])
        if training is not None:
            row["novel"] = row["smiles"] not in training
        if extra_rows is not None:
            row.update(extra_rows[i])
        rows.append(row)
    columns = [*ID_COLUMNS, *chem.PROPERTY_NAMES, *FLAG_COLUMNS]
    if training is not None:
        columns.append("novel")
    if extra is not None:
        columns += [c for c in extra.columns if c not in columns]
    return pd.DataFrame.from_records(rows, columns=columns)


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as UTF-8 CSV with a header, no index."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g")
    return path


# --------------------------------------------------------------------------
# SDF
#
# NOTE: this is the SDF writer's own RDKit boundary. Molecules are parsed only
# by molgen.chem.to_mol; what RDKit does here is conformer generation and
# molfile writing, which chem.py (owned elsewhere) does not offer. If chem
# gains a conformer helper, use it instead.


def embed_3d(mol: Chem.Mol, *, seed: int = 0, mmff_iterations: int = 500) -> Chem.Mol | None:
    """``mol`` with explicit hydrogens and one 3D conformer, or None if embedding fails.

    ETKDG v3 (Riniker & Landrum 2015, with the small-ring and macrocycle
    torsions) places the atoms; MMFF94 then minimises. A molecule MMFF has no
    parameters for keeps its ETKDG geometry (still a sensible starting pose).
    """
    with_h = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(with_h, params) != 0:
        params.useRandomCoords = True  # RDKit's documented retry for hard cases
        if AllChem.EmbedMolecule(with_h, params) != 0:
            return None
    if AllChem.MMFFHasAllMoleculeParams(with_h):
        AllChem.MMFFOptimizeMolecule(with_h, maxIters=mmff_iterations)
    return with_h


def _tag(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"  # NaN -> empty tag
    return "" if value is None else str(value)


def write_sdf(table: pd.DataFrame, path: str | Path, *, conformers: bool = False,
              seed: int = 0) -> Path:
    """The table as an SD file: one record per row, titled by ``id``, every column a tag.

    Without ``conformers`` the records carry 2D coordinates. With it each
    molecule gets a 3D conformer by :func:`embed_3d`; the ``conformer`` tag
    says ``mmff``, ``etkdg`` (no MMFF parameters) or ``2d`` (embedding failed).
    """
    if "smiles" not in table.columns:
        raise ValueError("the table needs a 'smiles' column")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Chem.SDWriter(str(path)) as writer:
        for row in table.to_dict("records"):
            mol = chem.to_mol(row["smiles"])
            kind = None
            if conformers:
                embedded = embed_3d(mol, seed=seed)
                if embedded is None:
                    kind = "2d"
                else:
                    mol = embedded
                    kind = "mmff" if AllChem.MMFFHasAllMoleculeParams(mol) else "etkdg"
            if mol.GetNumConformers() == 0:
                AllChem.Compute2DCoords(mol)
            mol.SetProp("_Name", str(row.get("id", "")))
            for name, value in row.items():
                mol.SetProp(str(name), _tag(value))
            if kind is not None:
                mol.SetProp("conformer", kind)
            writer.write(mol)
    return path


__all__ = ["candidate_table", "embed_3d", "write_csv", "write_sdf"]
