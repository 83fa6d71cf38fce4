"""The RDKit boundary: the one module in medgen where RDKit parses molecules.

Everything else in the project (tokenisers, the VAE, MOSES metrics,
generation, export) goes through :func:`to_mol` (SMILES) or
:func:`mol_from_molblock` (molfile/SDF records) or the helpers built on them,
so there is a single definition of "valid molecule" and a single place where
RDKit's log is captured. RDKit reports parse failures only by returning
``None`` and writing to its own log; both parsers capture that text and raise
:class:`~molgen.errors.InvalidMolecule` carrying it.

The project's one molecular fingerprint (:func:`morgan_fingerprint`) lives
here too, so that every Tanimoto similarity medgen reports is on one scale.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rdkit import Chem, DataStructs, RDConfig, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.FilterCatalog import (
    FilterCatalog,
    FilterCatalogEntry,
    FilterCatalogParams,
    SmartsMatcher,
)
from rdkit.Chem.MolStandardize import rdMolStandardize

from molgen.errors import InvalidMolecule, MolgenError

MolLike = Chem.Mol | str

# Drug-like SMILES are a few hundred characters; ChEMBL's longest approved
# drugs (peptides) stay well under this. The cap exists because RDKit's
# parser is not linear on hostile input: 10k unbalanced "C(" took 640 MB and
# 100k was killed for memory on a 23 GB machine; a 10^6-atom chain was still
# not parsed and canonicalised after ten minutes.
MAX_SMILES_LENGTH = 5000

# SMILES is printable ASCII without spaces. RDKit itself reads "C C" as
# methane named "C" and stops at a NUL byte, so such input would otherwise be
# silently truncated into a different, valid molecule.
_NOT_SMILES_CHAR = re.compile(r"[^!-~]")

# RDKit prefixes each log line with a "[HH:MM:SS] " timestamp.
_LOG_TIMESTAMP = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] ", re.MULTILINE)


# --------------------------------------------------------------------------
# RDKit's log


class _Captured:
    """Error text RDKit logged inside :func:`_rdkit_log`, timestamps removed."""

    def __init__(self, capture: rdBase.CaptureErrorLog):
        self._capture = capture

    def reason(self, fallback: str) -> str:
        text = _LOG_TIMESTAMP.sub("", self._capture.messages).strip("\n")
        # RDKit spreads one error over lines (a parse error's input and caret, a "****"
        # banner): the lines with words, joined, keep an error to one line
        parts = []
        for line in text.splitlines():
            if line.startswith(("Violation occurred", "Stacktrace:")):
                break  # RDKit's own source location and C++ trace: not for users
            if any(c.isalnum() for c in line):
                parts.append(line.strip())
        return " | ".join(dict.fromkeys(parts)) or fallback


@contextmanager
def _rdkit_log() -> Iterator[_Captured]:
    """Silence RDKit's stderr chatter and keep its error text for our exceptions.

    ``BlockLogs`` mutes warnings and info (InChI stereo warnings, standardiser
    progress) that would otherwise flood the output of a generation run with
    thousands of invalid samples; ``CaptureErrorLog`` still records the error
    channel so the reason ends up in :class:`InvalidMolecule`. RDKit's log is
    process-wide, so this is a boundary for our calls, not a sandbox.
    """
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as capture:
        yield _Captured(capture)


# --------------------------------------------------------------------------
# Parsing and identity


def to_mol(smiles: str, *, max_length: int = MAX_SMILES_LENGTH) -> Chem.Mol:
    """Parse and sanitise ``smiles``; the project's single validity check.

    Surrounding whitespace is ignored. Raises :class:`InvalidMolecule` (a
    ``ValueError``) carrying RDKit's reason for unparsable or unsanitisable
    input, and our own reason for input refused before RDKit sees it: empty,
    longer than ``max_length``, or holding characters RDKit would silently
    truncate at. Non-strings raise ``TypeError``: bytes must be decoded by the
    caller, who knows their encoding.
    """
    if not isinstance(smiles, str):
        raise TypeError(f"SMILES must be str, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        raise InvalidMolecule(smiles, "empty SMILES")
    if len(text) > max_length:
        raise InvalidMolecule(smiles, f"SMILES longer than {max_length} characters")
    start = len(smiles) - len(smiles.lstrip())  # report positions in the caller's string
    if bad := _NOT_SMILES_CHAR.search(smiles, start, start + len(text)):
        raise InvalidMolecule(
            smiles,
            f"character {bad.group()!r} at position {bad.start()} cannot occur in SMILES"
            " (printable ASCII without whitespace only)",
        )
    with _rdkit_log() as log:
        mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise InvalidMolecule(smiles, log.reason("RDKit could not parse the SMILES"))
    return mol


def _as_mol(mol: MolLike) -> Chem.Mol:
    return to_mol(mol) if isinstance(mol, str) else mol


def is_valid(smiles: str) -> bool:
    """Whether :func:`to_mol` accepts ``smiles`` (for validity rates)."""
    try:
        to_mol(smiles)
    except InvalidMolecule:
        return False
    return True


def mol_from_molblock(block: str) -> Chem.Mol:
    """Parse and sanitise one molfile block (an SDF record without its ``$$$$`` line).

    The molfile counterpart of :func:`to_mol`: raises :class:`InvalidMolecule`
    whose ``smiles`` is the block as given and whose ``reason`` is RDKit's log
    text (a C++ stack trace RDKit appends to invariant violations is cut off).
    A block without atoms parses to an empty molecule, which callers refuse
    when they canonicalise it (:func:`to_mol` refuses an empty SMILES).
    """
    if not isinstance(block, str):
        raise TypeError(f"molfile block must be str, got {type(block).__name__}")
    with _rdkit_log() as log:
        mol = Chem.MolFromMolBlock(block, sanitize=True)
    if mol is None:
        raise InvalidMolecule(block, _without_trace(
            log.reason("RDKit could not parse the molfile block")))
    return mol


def _without_trace(reason: str) -> str:
    """RDKit's invariant violations carry a C++ stack trace; keep the lines before it."""
    kept = []
    for line in reason.splitlines():
        if line.startswith(("Violation occurred", "Stacktrace:")):
            break
        if line.strip().strip("*-"):
            kept.append(line.strip())
    return "; ".join(kept) or reason


def canonical_smiles(smiles_or_mol: MolLike) -> str:
    """RDKit's canonical isomeric SMILES; strings are validated first."""
    return Chem.MolToSmiles(_as_mol(smiles_or_mol))


# Bracket atoms' element symbols ("[nH]" -> "n", "[C@@H]" -> "C", "[Cl-]" -> "Cl").
_BRACKET_ELEMENT = re.compile(r"\[\d*([A-Za-z][a-z]?)")
# Bracket elements with which the steps canonical_smiles_many skips have nothing to do:
# no metal (the organometallic clean-up) and no hydrogen (whose atoms parsing removes).
_NON_METALS = frozenset("B C N O F Si P S Cl Se Br I b c n o p s se".split())
_FAST_PARSE = Chem.SmilesParserParams()
_FAST_PARSE.sanitize, _FAST_PARSE.removeHs = False, False
_FAST_SANITIZE = (Chem.SanitizeFlags.SANITIZE_ALL
                  ^ Chem.SanitizeFlags.SANITIZE_CLEANUP_ORGANOMETALLICS
                  ^ Chem.SanitizeFlags.SANITIZE_CLEANUPATROPISOMERS)


def canonical_smiles_many(smiles: Iterable[str]) -> list[str]:
    """:func:`canonical_smiles` of each string, without its per-call cost.

    ``canonical_smiles`` opens RDKit's error capture around every parse; one
    ``BlockLogs`` around the whole batch gives the same strings ~20% faster (measured
    before the shortcut below: 230 against 290 us of CPU a molecule). Strings
    whose atoms are all non-metals, hydrogen atoms aside, are sanitised without the
    organometallic and atropisomer clean-ups and without removing hydrogens: the first
    needs a metal, the second wedge information a plain SMILES cannot carry, the third
    a hydrogen atom, so each would leave such a molecule unchanged. Skipping them took
    the MOSES preparation (1.58M molecules, RDKit 2026.09, 2 cores) from 232-252 to 148
    CPU-seconds and from 126.5 to 77.4 s (``benchmarks/results/mol_evaluate.json``; runs
    hours apart on a shared machine), with the same canonical set.
    Anything the fast path would treat differently from :func:`to_mol` (odd characters,
    over-long or unparsable strings) goes through ``canonical_smiles`` itself, which
    raises on it.
    """
    out = []
    with rdBase.BlockLogs():
        for text in smiles:
            mol = None
            if text and len(text) <= MAX_SMILES_LENGTH and not _NOT_SMILES_CHAR.search(text):
                if _NON_METALS.issuperset(_BRACKET_ELEMENT.findall(text)):
                    mol = Chem.MolFromSmiles(text, _FAST_PARSE)
                    if mol is not None and Chem.SanitizeMol(
                            mol, _FAST_SANITIZE, catchErrors=True) != Chem.SANITIZE_NONE:
                        mol = None
                else:
                    mol = Chem.MolFromSmiles(text)
            out.append(Chem.MolToSmiles(mol) if mol is not None else canonical_smiles(text))
    return out


def kekule_smiles(smiles_or_mol: MolLike) -> str:
    """Canonical SMILES with aromatic rings spelt as alternating single and double bonds
    (``c1ccccc1O`` -> ``OC1=CC=CC=C1``); RDKit reads it back as the same aromatic molecule."""
    mol = Chem.Mol(_as_mol(smiles_or_mol))
    Chem.Kekulize(mol, clearAromaticFlags=True)
    return Chem.MolToSmiles(mol, kekuleSmiles=True)


def bond_capacity(atom: str, *, most: int = 8) -> int:
    """How many single bonds RDKit lets the SMILES atom ``atom`` (``"N"``, ``"[NH+]"``,
    ``"[O-]"``) take: the largest n <= ``most`` for which the atom bonded to n methyls
    sanitises, 0 where none does (an aromatic ``"c"`` outside a ring).

    Found by asking RDKit rather than from a valence table, so that charges, explicit
    hydrogens and RDKit's own valence lists count exactly as they do when it reads a
    generated molecule.
    """
    found = 0
    with _rdkit_log():
        for n in range(1, most + 1):
            text = atom + "".join(["(C)"] * (n - 1)) + "C"
            if Chem.MolFromSmiles(text) is not None:
                found = n
    return found


def inchikey(mol: MolLike) -> str:
    """Standard InChIKey; raises :class:`InvalidMolecule` if InChI refuses the molecule."""
    mol = _as_mol(mol)
    with _rdkit_log() as log:
        key = Chem.MolToInchiKey(mol)
    if not key:  # RDKit signals InChI failure with an empty string, not an exception
        raise InvalidMolecule(
            Chem.MolToSmiles(mol), log.reason("InChI could not represent the molecule")
        )
    return key


# --------------------------------------------------------------------------
# Standardisation


@dataclass(frozen=True, slots=True)
class Standardised:
    """The neutral parent of an input structure, as registered for screening."""

    smiles: str  # canonical SMILES of the parent
    inchikey: str
    input_smiles: str
    removed_fragments: int  # counterions, solvents, ... dropped after cleanup


def parent_structure(smiles: str) -> Standardised:
    """Strip salts and neutralise: ``"CC(=O)Oc1ccccc1C(=O)[O-].[Na+]"`` -> aspirin.

    Steps, all from ``rdMolStandardize``:

    1. ``Cleanup`` first, because it disconnects metals: a sodium salt written
       covalently (``C(=O)O[Na]``) only becomes a separate fragment after it.
    2. ``FragmentParent`` (``LargestFragmentChooser`` on the cleaned molecule)
       keeps the largest organic fragment. We count fragments in between so
       the caller can see that something was stripped; this is why we do not
       call ``ChargeParent``, which hides that step.
    3. ``Uncharger`` neutralises what the counterion balanced (carboxylates,
       protonated amines) and leaves permanent charges (quaternary N) alone.
    """
    mol = to_mol(smiles)
    with _rdkit_log() as log:
        try:
            cleaned = rdMolStandardize.Cleanup(mol)
            n_fragments = len(Chem.GetMolFrags(cleaned))
            parent = rdMolStandardize.FragmentParent(cleaned, skipStandardize=True)
            parent = rdMolStandardize.Uncharger().uncharge(parent)
        except Chem.MolSanitizeException as err:
            # A normalisation rule produced something RDKit cannot sanitise.
            raise InvalidMolecule(smiles, log.reason(str(err))) from err
    return Standardised(
        smiles=Chem.MolToSmiles(parent),
        inchikey=inchikey(parent),
        input_smiles=smiles,
        removed_fragments=n_fragments - 1,
    )


# --------------------------------------------------------------------------
# Properties


@functools.cache
def _sascorer() -> ModuleType:
    """Ertl & Schuffenhauer's SA score, shipped in RDKit's Contrib folder.

    Contrib is not a package in every RDKit build (conda puts it under
    ``share/RDKit``), so RDKit documents reaching it through
    ``RDConfig.RDContribDir``. Loading it from that file path keeps
    ``sys.path`` untouched; the module finds its ``fpscores.pkl.gz`` next to it.
    """
    path = Path(RDConfig.RDContribDir) / "SA_Score" / "sascorer.py"
    spec = importlib.util.spec_from_file_location("sascorer", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise MolgenError(f"RDKit's SA_Score contrib module is missing: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _sa_fragment_scores() -> tuple[rdFingerprintGenerator.FingerprintGenerator64,
                                   dict[int, float]]:
    """The SA module's Morgan generator and its fragment scores (Morgan radius-2
    environment id -> score, from PubChem), read by the module itself."""
    module = _sascorer()
    if module._fscores is None:
        module.readFragmentScores()
    return module.mfpgen, module._fscores


def _sa_score(mol: Chem.Mol) -> float:
    """Ertl & Schuffenhauer's synthetic accessibility score (J. Cheminform. 2009, 1:8),
    1 (easy) to 10 (hard), as version 1.1 in RDKit's Contrib computes it.

    The arithmetic is ``sascorer.calculateScore``'s, step for step, with its own
    fingerprint generator and fragment scores; the tests check the numbers are
    equal on MOSES molecules and the drug corpus. One count is taken another way:
    ``calculateScore`` counts stereocentres (specified or not) as
    ``len(Chem.FindMolChiralCenters(mol, includeUnassigned=True))``, whose Python
    loop over the atoms was more than half its time (55 of 100 us a MOSES
    molecule); ``CalcNumAtomStereoCenters`` counts the same centres in C++ (~1 us).
    A molecule without atoms has no score (``calculateScore`` returns None): NaN.
    """
    atoms = mol.GetNumAtoms()
    if atoms == 0:
        return float("nan")
    generator, fragment_scores = _sa_fragment_scores()
    counts = generator.GetSparseCountFingerprint(mol).GetNonzeroElements()
    # Fragment score: the mean over the molecule's Morgan environments; unseen ones -4.
    fragments = total = 0.0
    for environment, count in counts.items():
        total += count
        fragments += fragment_scores.get(environment, -4) * count
    fragments /= total
    # Complexity penalties, each a log10(1 + count) but for size and macrocycles.
    stereo = rdMolDescriptors.CalcNumAtomStereoCenters(mol)
    spiro = rdMolDescriptors.CalcNumSpiroAtoms(mol)
    bridgeheads = rdMolDescriptors.CalcNumBridgeheadAtoms(mol)
    macrocycle = any(len(ring) > 8 for ring in mol.GetRingInfo().AtomRings())
    complexity = (0.0 - (atoms ** 1.005 - atoms) - math.log10(stereo + 1)
                  - math.log10(spiro + 1) - math.log10(bridgeheads + 1)
                  - (math.log10(2) if macrocycle else 0.0))
    # v1.1: symmetric molecules (fewer distinct environments than atoms) are easier.
    density = math.log(atoms / len(counts)) * 0.5 if atoms > len(counts) else 0.0
    raw = fragments + complexity + density
    # Scaled from the raw range [-4, 2.5] onto 10 .. 1, the hard end smoothed.
    score = 11.0 - (raw + 4.0 + 1) / 6.5 * 9.0
    if score > 8.0:
        score = 8.0 + math.log(score + 1.0 - 9.0)  # as calculateScore rounds it
    return min(max(score, 1.0), 10.0)


def _rotatable_bonds(mol: Chem.Mol) -> int:
    # RDKit's default definition (Strict), named so that QED's ROTB, which
    # asks for Strict explicitly, is visibly the same number.
    strict = rdMolDescriptors.NumRotatableBondsOptions.Strict
    return rdMolDescriptors.CalcNumRotatableBonds(mol, strict)


# One definition per descriptor, shared by properties() and the rule filters
# so that "HBD" cannot mean two things in two places.
_DESCRIPTORS: dict[str, Callable[[Chem.Mol], float | int]] = {
    "mw": Descriptors.MolWt,  # average molecular weight, g/mol
    "clogp": Crippen.MolLogP,  # Wildman-Crippen
    "tpsa": rdMolDescriptors.CalcTPSA,
    "hbd": rdMolDescriptors.CalcNumHBD,
    "hba": rdMolDescriptors.CalcNumHBA,
    "rotatable_bonds": _rotatable_bonds,
    "qed": QED.qed,  # Bickerton et al. 2012, mean weights; properties() reuses work: _qed_column
    "sa": _sa_score,  # 1 (easy) .. 10 (hard)
}
PROPERTY_NAMES: tuple[str, ...] = tuple(_DESCRIPTORS)
_COUNT_PROPERTIES = ("hbd", "hba", "rotatable_bonds")


@functools.cache
def _qed_alerts() -> FilterCatalog:
    """QED's 116 structural alerts in one catalogue: one C++ call counts the alerts a
    molecule hits instead of 116 ``HasSubstructMatch`` calls from Python (~25% less)."""
    catalog = FilterCatalog()
    for i, query in enumerate(QED.StructuralAlerts):
        catalog.AddEntry(FilterCatalogEntry(f"qed_alert_{i}", SmartsMatcher(str(i), query, 1)))
    return catalog


# What QED.qed computes with the very functions of _DESCRIPTORS, so they are reused.
_QED_REUSES = ("mw", "clogp", "hbd", "tpsa", "rotatable_bonds")


def _qed_acceptors(mol: Chem.Mol) -> int:
    # QED's HBA counts matches of its own acceptor SMARTS, not CalcNumHBA's.
    return sum(len(mol.GetSubstructMatches(pattern)) for pattern in QED.Acceptors
               if mol.HasSubstructMatch(pattern))


def _qed_aromatic_rings(mol: Chem.Mol) -> int:
    return len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings)))


def _qed_column(mols: Sequence[Chem.Mol], columns: Mapping[str, Sequence[float | int]]
                ) -> list[float]:
    """``QED.qed`` of each molecule, the same numbers, reusing the :data:`_QED_REUSES`
    columns already computed.

    ``QED.qed`` recomputes MW, ALOGP, HBD, PSA and ROTB with the very functions
    of :data:`_DESCRIPTORS` (on ``RemoveHs(mol)``), and RDKit's ``qed`` accepts
    them precomputed. Only what QED defines differently is computed here, as
    ``QED.properties`` does: HBA from its own acceptor SMARTS, AROM, and the
    count of structural alerts hit. A molecule with explicit hydrogens or
    dummy atoms (``RemoveHs`` could change it) goes through ``QED.qed`` whole.
    The tests check equality with ``QED.qed`` on MOSES molecules.
    """
    plain = [i for i, mol in enumerate(mols) if mol.GetNumHeavyAtoms() == mol.GetNumAtoms()]
    alerts = _qed_alerts()
    # A part at a time across the molecules, for the reason given in properties_many.
    acceptors = [_qed_acceptors(mols[i]) for i in plain]
    aromatic = [_qed_aromatic_rings(mols[i]) for i in plain]
    hits = [len(alerts.GetMatches(mols[i])) for i in plain]
    values = {}
    for i, hba, arom, n_alerts in zip(plain, acceptors, aromatic, hits, strict=True):
        own = QED.QEDproperties(
            MW=columns["mw"][i], ALOGP=columns["clogp"][i], HBA=hba, HBD=columns["hbd"][i],
            PSA=columns["tpsa"][i], ROTB=columns["rotatable_bonds"][i], AROM=arom,
            ALERTS=n_alerts)
        values[i] = QED.qed(mols[i], qedProperties=own)
    return [values[i] if i in values else QED.qed(mol) for i, mol in enumerate(mols)]


def _check_property_names(names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in _DESCRIPTORS]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {list(PROPERTY_NAMES)}")


def properties_many(mols: Iterable[MolLike], names: Sequence[str] = PROPERTY_NAMES
                    ) -> list[dict[str, float | int]]:
    """:func:`properties` of each molecule, computed a descriptor at a time across them.

    The numbers are those of :func:`properties`; only the order of work
    differs, and it matters. Each descriptor walks its own SMARTS and tables
    (Crippen's atom types, QED's 116 alerts, SA's fragment scores). Going
    molecule by molecule through all eight pushes each set out of the CPU's
    caches before it is needed again; a descriptor at a time keeps it there.
    On 3,000 MOSES molecules that took 0.65 ms a molecule against 1.03 ms.
    """
    _check_property_names(names)
    mols = [_as_mol(mol) for mol in mols]
    wanted = set(names) | (set(_QED_REUSES) if "qed" in names else set())
    columns: dict[str, list[float | int]] = {}
    with _rdkit_log():
        for name in PROPERTY_NAMES:  # QED comes after the descriptors it reuses
            if name not in wanted:
                continue
            columns[name] = (_qed_column(mols, columns) if name == "qed"
                             else [_DESCRIPTORS[name](mol) for mol in mols])
    return [{name: columns[name][i] for name in names} for i in range(len(mols))]


def properties(mol: MolLike, names: Sequence[str] = PROPERTY_NAMES) -> dict[str, float | int]:
    """Drug-likeness descriptors keyed by ``names`` (default: all :data:`PROPERTY_NAMES`).

    Each value is that of the descriptor in :data:`_DESCRIPTORS`; QED reuses
    the descriptors computed before it (:func:`_qed_column`). RDKit's log is
    captured: QED's ``RemoveHs`` warns about lone hydrogens (``[H+]``), which
    would otherwise reach stderr once per molecule. For many molecules,
    :func:`properties_many` is faster.
    """
    return properties_many([mol], names)[0]


def properties_table(
    smiles: Iterable[str], *, on_invalid: Literal["raise", "nan"] = "raise"
) -> pd.DataFrame:
    """One row per input: ``input_smiles``, canonical ``smiles``, properties, ``error``.

    With ``on_invalid="nan"`` an invalid row keeps its place with missing
    values and RDKit's reason in ``error``, so generated batches can be scored
    and joined back by position (a Series' index is kept). Count columns use
    pandas' nullable ``Int64`` so missing rows do not turn them into floats.
    """
    if on_invalid not in ("raise", "nan"):
        raise ValueError(f"on_invalid must be 'raise' or 'nan', got {on_invalid!r}")
    index = smiles.index if isinstance(smiles, pd.Series) else None
    rows, mols = [], {}  # row index -> its molecule
    for text in smiles:
        try:
            mol = to_mol(text)
        except InvalidMolecule as err:
            if on_invalid == "raise":
                raise
            rows.append({"input_smiles": text, "error": err.reason})
            continue
        mols[len(rows)] = mol
        rows.append({"input_smiles": text, "smiles": Chem.MolToSmiles(mol)})
    for i, values in zip(mols, properties_many(mols.values()), strict=True):
        rows[i].update(values)
    columns = ["input_smiles", "smiles", *PROPERTY_NAMES, "error"]
    table = pd.DataFrame.from_records(rows, columns=columns, index=index)
    float_columns = [name for name in PROPERTY_NAMES if name not in _COUNT_PROPERTIES]
    return table.astype(
        {**dict.fromkeys(float_columns, "float64"), **dict.fromkeys(_COUNT_PROPERTIES, "Int64")}
    )


# --------------------------------------------------------------------------
# Rule-based filters

# Lipinski et al., Adv. Drug Deliv. Rev. 1997: poor absorption is likely when
# MORE THAN ONE of these limits is exceeded, hence max_violations=1 below.
_LIPINSKI_LIMITS = {"mw": 500.0, "clogp": 5.0, "hbd": 5, "hba": 10}
# Veber et al., J. Med. Chem. 2002: both limits must hold.
_VEBER_LIMITS = {"rotatable_bonds": 10, "tpsa": 140.0}


def _descriptor(mol: Chem.Mol, name: str, values: Mapping[str, float | int] | None
                ) -> float | int:
    if values is not None and name in values:
        return values[name]
    return _DESCRIPTORS[name](mol)


def lipinski(mol: MolLike, *, max_violations: int = 1,
             values: Mapping[str, float | int] | None = None) -> bool:
    """Rule of five: at most ``max_violations`` of MW, cLogP, HBD, HBA limits exceeded.

    ``values``: descriptors already computed for ``mol`` (e.g. by
    :func:`properties`), used instead of computing them again.
    """
    mol = _as_mol(mol)
    violations = sum(_descriptor(mol, name, values) > limit
                     for name, limit in _LIPINSKI_LIMITS.items())
    return violations <= max_violations


def veber(mol: MolLike, *, values: Mapping[str, float | int] | None = None) -> bool:
    """Veber's oral-bioavailability rule: <= 10 rotatable bonds and TPSA <= 140 A^2
    (``values`` as in :func:`lipinski`)."""
    mol = _as_mol(mol)
    return all(_descriptor(mol, name, values) <= limit for name, limit in _VEBER_LIMITS.items())


@functools.cache
def _filter_catalog(which: FilterCatalogParams.FilterCatalogs) -> FilterCatalog:
    # Building a catalogue compiles hundreds of SMARTS; do it once per kind,
    # and only when a filter is first used.
    params = FilterCatalogParams()
    params.AddCatalog(which)
    return FilterCatalog(params)


def _catalog_matches(mol: MolLike, which: FilterCatalogParams.FilterCatalogs) -> list[str]:
    entries = _filter_catalog(which).GetMatches(_as_mol(mol))
    # A pattern can be listed once per matching entry; report each name once.
    return list(dict.fromkeys(entry.GetDescription() for entry in entries))


# --------------------------------------------------------------------------
# SMARTS alerts screened by pattern fingerprints

_PATTERN_BITS = 2048


def _pattern_words(mol: Chem.Mol) -> np.ndarray:
    """RDKit's substructure-screening fingerprint of ``mol`` as packed uint64 words."""
    fp = Chem.PatternFingerprint(mol, fpSize=_PATTERN_BITS)
    bits = np.zeros(fp.GetNumBits(), dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(fp, bits)
    return np.packbits(bits).view(np.uint64)


@dataclass(frozen=True)
class ScreenedQueries:
    """Named SMARTS alerts, matched against a molecule with explicit hydrogens (many
    PAINS queries spell them out) after a pattern-fingerprint screen.

    Matching hundreds of queries one by one costs milliseconds a molecule.
    RDKit's pattern fingerprints exist for substructure screening: a query
    can only match a molecule whose fingerprint holds all the query's bits,
    so most queries are skipped without a match. The tests check that the
    screen changes no answer, on molecules that hit.
    """

    names: tuple[str, ...]
    queries: tuple[Chem.Mol, ...]
    screens: np.ndarray  # (n_queries, n_words) uint64

    @classmethod
    def from_smarts(cls, named: Iterable[tuple[str, str]], source: str) -> ScreenedQueries:
        names, queries = [], []
        for name, smarts in named:
            query = Chem.MolFromSmarts(smarts)
            if query is None:
                raise MolgenError(f"{source}: alert {name} is not valid SMARTS: {smarts!r}")
            names.append(name)
            queries.append(query)
        if not queries:
            raise MolgenError(f"{source}: no alerts")
        return cls(tuple(names), tuple(queries), np.stack([_pattern_words(q) for q in queries]))

    def _hits(self, mol: MolLike, screen: bool) -> Iterator[int]:
        with_hs = Chem.AddHs(_as_mol(mol))
        if screen:
            words = _pattern_words(with_hs)
            candidates = np.flatnonzero(~(self.screens & ~words).any(axis=1))
        else:
            candidates = range(len(self.queries))
        return (int(i) for i in candidates if with_hs.HasSubstructMatch(self.queries[i]))

    def matches(self, mol: MolLike, *, screen: bool = True) -> list[str]:
        """Names of the alerts ``mol`` hits, in the order they were given."""
        return [self.names[i] for i in self._hits(mol, screen)]

    def hits_any(self, mol: MolLike, *, screen: bool = True) -> bool:
        return next(self._hits(mol, screen), None) is not None


@functools.cache
def _pains() -> ScreenedQueries:
    # Baell & Holloway's 480 PAINS SMARTS as RDKit ships them (Data/Pains), the
    # source of its PAINS FilterCatalog; the tests check both give the same names.
    path = Path(RDConfig.RDDataDir) / "Pains" / "wehi_pains.csv"
    if not path.is_file():
        raise MolgenError(f"RDKit's PAINS definitions are missing: {path}")
    with path.open(newline="") as handle:
        rows = [(row[1].removeprefix("<regId=").removesuffix(">"), row[0])
                for row in csv.reader(handle) if len(row) >= 2]
    return ScreenedQueries.from_smarts(rows, str(path))


def pains_matches(mol: MolLike) -> list[str]:
    """Names of PAINS (A, B and C) alerts the molecule hits, e.g. ``"ene_rhod_A(235)"``.

    The same names as RDKit's PAINS ``FilterCatalog``, 2.6x faster through the
    pattern-fingerprint screen (1.9 ms -> 0.7 ms a molecule on MOSES and
    approved drugs)."""
    return _pains().matches(mol)


def brenk_matches(mol: MolLike) -> list[str]:
    """Names of Brenk unwanted-substructure alerts, e.g. ``"nitro_group"``."""
    return _catalog_matches(mol, FilterCatalogParams.FilterCatalogs.BRENK)


# --------------------------------------------------------------------------
# Fingerprints and similarity
#
# One fingerprint for the whole project: Morgan, radius 2, 1024 bits, which is
# MOSES's definition (GetMorganFingerprintAsBitVect(mol, 2, nBits=1024) in its
# SNN and IntDiv). The MOSES metrics must use exactly that to be comparable
# with the published table, and everything else that reports a Tanimoto
# similarity uses the same bits: analogue ranking and the latent
# optimisation's similarity constraint (molgen.generate), and the ANALOG_OF
# links to approved drugs (medgen.candidates). A candidate's similarity to its
# seed, to its nearest drug and to the MOSES test set are then on one scale.
# (generate once used 2048 bits; the same pair of molecules then had two
# Tanimoto values, 1024 bits reading slightly higher because more
# substructures share a bit.)

MORGAN_RADIUS = 2
MORGAN_BITS = 1024


@functools.cache
def _morgan_generator() -> rdFingerprintGenerator.FingerprintGenerator64:
    # Same bits as MOSES's fingerprints: checked bit for bit against the
    # fingerprints stored in its test_stats.npz (tests/molgen/test_metrics.py).
    return rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)


def morgan_fingerprint(mol: MolLike) -> DataStructs.ExplicitBitVect:
    """The project's fingerprint (Morgan r=2, 1024 bits) as an RDKit bit vector."""
    return _morgan_generator().GetFingerprint(_as_mol(mol))


def morgan_bits(mol: MolLike) -> np.ndarray:
    """Indices of the set bits of :func:`morgan_fingerprint`, uint16."""
    return np.fromiter(morgan_fingerprint(mol).GetOnBits(), dtype=np.uint16)


def fingerprint_matrix(bits: Sequence[np.ndarray], n_bits: int = MORGAN_BITS) -> sp.csr_matrix:
    """(n_molecules, n_bits) uint8 0/1 CSR matrix from per-molecule set-bit indices."""
    lengths = np.fromiter((len(b) for b in bits), dtype=np.int64, count=len(bits))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate(bits).astype(np.int32) if len(bits) else np.zeros(0, np.int32)
    data = np.ones(len(indices), dtype=np.uint8)
    return sp.csr_matrix((data, indices, indptr), shape=(len(bits), n_bits))


def morgan_matrix(mols: Iterable[MolLike]) -> sp.csr_matrix:
    """:func:`morgan_fingerprint` of each molecule as the rows of a 0/1 CSR matrix."""
    return fingerprint_matrix([morgan_bits(m) for m in mols])


def tanimoto_matrix(a: Iterable[MolLike], b: Iterable[MolLike]) -> np.ndarray:
    """(len(a), len(b)) float32 Tanimoto similarities on :func:`morgan_fingerprint`.

    One sparse product of the two fingerprint matrices gives every
    intersection count (a fingerprint sets ~40 of 1024 bits). Two empty
    fingerprints (only an empty molecule has one) score 0, as in RDKit.
    """
    fa, fb = morgan_matrix(a), morgan_matrix(b)
    inter = (fa.astype(np.int32) @ fb.astype(np.int32).T).toarray().astype(np.float32)
    union = (np.diff(fa.indptr).astype(np.float32)[:, None]
             + np.diff(fb.indptr).astype(np.float32)[None, :] - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def tanimoto(reference: MolLike, others: Sequence[MolLike]) -> np.ndarray:
    """(len(others),) Tanimoto similarity of each of ``others`` to ``reference``."""
    return tanimoto_matrix([reference], others)[0]


# --------------------------------------------------------------------------
# Sets of molecules


def deduplicate(smiles: Iterable[str]) -> list[str]:
    """Inputs with repeats removed by canonical SMILES, first occurrence kept as written.

    Invalid entries raise :class:`InvalidMolecule`; filter with :func:`is_valid`
    first when the list is raw model output.
    """
    seen: set[str] = set()
    kept = []
    for text in smiles:
        key = canonical_smiles(text)
        if key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def novelty(generated: Iterable[str], training_canonical: Collection[str]) -> float:
    """Fraction of unique generated molecules absent from the training set.

    As in MOSES, uniqueness is taken first, so repeating one novel molecule
    does not raise the score. ``training_canonical`` must already hold
    canonical SMILES from :func:`canonical_smiles` (canonicalising a training
    set of millions on every call would dominate the cost).
    """
    unique = {canonical_smiles(text) for text in generated}
    if not unique:
        raise ValueError("novelty of an empty set of molecules is undefined")
    return sum(key not in training_canonical for key in unique) / len(unique)
