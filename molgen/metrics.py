"""The MOSES metric set (Polykovskiy et al., Front. Pharmacol. 2020).

Written from the definitions in the MOSES paper and README; the reference
side of every distribution metric is the statistics MOSES itself shipped
(:func:`molgen.moses_data.test_stats`), so figures are comparable with the
published table. Keys follow the README table:

==============  ===============================================================
``Valid``       fraction of generated strings that :func:`molgen.chem.to_mol` accepts
``Unique@1k``   distinct canonical SMILES among the first 1,000 valid molecules
``Unique@10k``  the same among the first 10,000
``FCD/Test``    Fréchet distance of ChemNet activations to the test set (``fcd_torch``)
``SNN/Test``    mean over generated molecules of the Tanimoto similarity (Morgan
                r=2, 1024 bits: :func:`molgen.chem.morgan_fingerprint`) to the
                nearest test molecule
``Frag/Test``   cosine similarity of BRICS fragment counts
``Scaf/Test``   cosine similarity of Bemis-Murcko scaffold counts (>= 2 rings)
``.../TestSF``  the same four against the scaffold test set
``IntDiv``      1 - mean Tanimoto similarity over all ordered pairs (self-pairs included)
``IntDiv2``     1 - mean over molecules of the root mean square of its similarities
``Filters``     fraction passing the MOSES rules: MCF and PAINS SMARTS, atoms in
                {C, N, S, O, F, Cl, Br, H}, no formal charges, no ring of 8+ atoms
``Novelty``     fraction of unique valid molecules absent from the training set
==============  ===============================================================

As in MOSES, everything after ``Valid`` is computed over the valid molecules
with repeats kept (``Unique`` and ``Novelty`` count distinct ones). The
property distances (logP, SA, QED, weight) MOSES computes besides are not in
its table and not here.

Speed, for 30,000 molecules on 2 CPU cores: each input string is parsed once
and everything per molecule (canonical SMILES, fingerprint, fragments,
scaffold, filters) is computed from that parse, in ``n_jobs`` processes (every
usable CPU by default). ChemNet, the bulk of the time on a CPU, runs each
distinct molecule of a chunk once, in batches of :data:`CHEMNET_BATCH`. The input goes
through in chunks of :data:`EVAL_CHUNK` folded into running sums (FCD's mean
and covariance, SNN, the fragment and scaffold counts), so memory stays bounded
on large files. Nearest-neighbour
similarity against the 176k test fingerprints is a sparse (generated) x dense
(test) integer product: a Morgan fingerprint sets ~40 of 1024 bits, so this
does 25x less work than a dense float product; the test fingerprints stay
bit-packed and are unpacked a block at a time. Novelty looks up 64-bit hashes
of the canonical training set (:class:`molgen.moses_data.HashedSmiles`).
Nothing is downloaded or prepared here: :func:`molgen.moses_data.prepare_reference`
does that once per machine.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

from molgen.chem import (  # fingerprints: the project's one definition, MOSES's
    MORGAN_BITS,
    ScreenedQueries,
    canonical_smiles,
    fingerprint_matrix,
    is_valid,
    morgan_bits,
    morgan_matrix,
    to_mol,
)
from molgen.errors import InvalidMolecule
from molgen.moses_data import (
    HashedSmiles,
    Progress,
    filter_smarts,
    moses_cache,
    test_stats,
    train_canonical,
    usable_cpus,
)

log = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = (
    "Valid", "Unique@1k", "Unique@10k", "FCD/Test", "FCD/TestSF", "SNN/Test", "SNN/TestSF",
    "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters",
    "Novelty",
)  # fmt: skip
_REFERENCES = (("test", "Test"), ("test_scaffolds", "TestSF"))

MIN_SCAFFOLD_RINGS = 2  # MOSES counts only scaffolds with at least two rings
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
MAX_RING_SIZE = 7  # MOSES rejects rings of 8 or more atoms

# Work sizes: a (rows x cols) uint8 block of intersection counts is 16 MB,
# small enough to stay in cache while it is reduced.
_ROW_BLOCK = 2048
_COL_BLOCK = 8192
_CHUNK = 2000  # molecules per task sent to a worker process
# Molecules described and run through ChemNet at a time by moses_metrics; IntDiv's
# all-pairs cost grows quadratically (6.6 s for 30,000 on 2 cores), so past
# INTDIV_MAX valid molecules it takes the first ones, and says so.
EVAL_CHUNK = 20_000
INTDIV_MAX = 100_000


# --------------------------------------------------------------------------
# Per molecule


@dataclass(frozen=True, slots=True, eq=False)  # eq would compare arrays ambiguously
class MolRecord:
    """Everything the metrics need from one valid molecule, computed from one parse."""

    canonical: str
    fingerprint: np.ndarray  # (n_on,) uint16 indices of the set Morgan bits
    fragments: tuple[str, ...]  # BRICS fragments, repeats kept
    scaffold: str | None  # None when it has fewer than MIN_SCAFFOLD_RINGS rings
    passes_filters: bool


def brics_fragments(mol: Chem.Mol) -> list[str]:
    """SMILES of the pieces left after cutting every BRICS bond (dummy atoms mark the cuts)."""
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def murcko_scaffold(mol: Chem.Mol) -> str | None:
    """Bemis-Murcko scaffold SMILES, or None below :data:`MIN_SCAFFOLD_RINGS` rings."""
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):  # MOSES drops molecules RDKit cannot reduce
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or scaffold.GetRingInfo().NumRings() < MIN_SCAFFOLD_RINGS:
        return None
    return smiles


@functools.cache
def _filter_patterns(cache: Path) -> ScreenedQueries:
    return ScreenedQueries.from_smarts(filter_smarts(cache), "MOSES filters")


def passes_filters(mol: Chem.Mol, *, cache: Path | None = None) -> bool:
    """MOSES's Filters rule for one molecule (see the module docstring)."""
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(atom.GetSymbol() not in ALLOWED_ATOMS for atom in mol.GetAtoms()):
        return False
    if any(len(ring) > MAX_RING_SIZE for ring in mol.GetRingInfo().AtomRings()):
        return False
    # MCF and PAINS alerts (about 30 of 502 queries are left to match after the screen)
    if _filter_patterns(moses_cache(cache)).hits_any(mol):
        return False
    # MOSES also requires the non-isomeric SMILES to read back.
    return is_valid(Chem.MolToSmiles(mol, isomericSmiles=False))


def describe(smiles: str, *, cache: Path | None = None) -> MolRecord | None:
    """The :class:`MolRecord` of ``smiles``, or None if it is not a valid molecule.

    MOSES computes the per-molecule parts on the molecule read back from its
    canonical SMILES; we keep the first parse, the same molecule, and save a
    second parse per molecule.
    """
    try:
        mol = to_mol(smiles)
    except InvalidMolecule:
        return None
    # BRICS, Murcko and AddHs warn on odd but valid molecules; keep a 30k-sample
    # evaluation from flooding stderr (to_mol already captured parse errors).
    with rdBase.BlockLogs():
        return MolRecord(
            canonical=canonical_smiles(mol),
            fingerprint=morgan_bits(mol),
            fragments=tuple(brics_fragments(mol)),
            scaffold=murcko_scaffold(mol),
            passes_filters=passes_filters(mol, cache=cache),
        )


def _describe_chunk(smiles: list[str], cache: Path) -> list[MolRecord | None]:
    return [describe(text, cache=cache) for text in smiles]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe_pool(n_jobs: int) -> ProcessPoolExecutor:
    # spawn, not fork: the caller may hold torch or driver threads.
    return ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn"))


def describe_all(
    smiles: Sequence[str],
    *,
    n_jobs: int = 1,
    cache: Path | None = None,
    progress: Progress | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> list[MolRecord | None]:
    """:func:`describe` for each input, in order; a repeated string is described once.

    ``progress(stage, done, total)`` is called as chunks of molecules finish.
    ``pool``: worker processes to use (and leave running) instead of ``n_jobs`` new ones.
    """
    folder = moses_cache(cache)
    distinct = list(dict.fromkeys(smiles))
    stage = f"describing {len(distinct):,} molecules (RDKit)"
    work = functools.partial(_describe_chunk, cache=folder)
    own_pool = None
    if pool is None and n_jobs > 1 and len(distinct) > _CHUNK:
        pool = own_pool = _describe_pool(n_jobs)
    if pool is None or len(distinct) <= _CHUNK:
        parts = map(work, _chunks(distinct, _CHUNK))
    else:
        parts = pool.map(work, _chunks(distinct, _CHUNK))
    described: list[MolRecord | None] = []
    try:
        if progress:
            progress(stage, 0, len(distinct))
        for part in parts:
            described += part
            if progress:
                progress(stage, len(described), len(distinct))
    finally:
        if own_pool is not None:
            own_pool.shutdown(cancel_futures=True)
    by_input = dict(zip(distinct, described, strict=True))
    return [by_input[text] for text in smiles]


# --------------------------------------------------------------------------
# Counting metrics


def validity(smiles: Sequence[str]) -> float:
    """Fraction of ``smiles`` that are valid molecules (:func:`molgen.chem.is_valid`)."""
    if not smiles:
        raise ValueError("validity of an empty list is undefined")
    return sum(map(is_valid, smiles)) / len(smiles)


def fraction_unique(canonical: Sequence[str], k: int | None = None) -> float:
    """Distinct / total among the first ``k`` canonical SMILES of valid molecules.

    Like MOSES, warns and uses them all when fewer than ``k`` are given.
    """
    if k is not None:
        if len(canonical) < k:
            warnings.warn(
                f"unique@{k} computed on only {len(canonical)} valid molecules",
                stacklevel=2,
            )
        canonical = canonical[:k]
    if not canonical:
        raise ValueError("uniqueness of an empty list is undefined")
    return len(set(canonical)) / len(canonical)


def novelty(canonical: Iterable[str], train_canonical: Collection[str]) -> float:
    """Fraction of distinct molecules not in the training set.

    :func:`molgen.chem.novelty` with the canonicalisation already done: the
    metric run holds canonical SMILES, and parsing 30k of them again costs seconds.
    """
    unique = list(set(canonical))
    if not unique:
        raise ValueError("novelty of an empty set of molecules is undefined")
    if isinstance(train_canonical, HashedSmiles):  # one vectorised lookup, not 30k calls
        return float(np.count_nonzero(~train_canonical.contains(unique))) / len(unique)
    return sum(key not in train_canonical for key in unique) / len(unique)


def cosine_similarity(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Cosine of two count vectors keyed by SMILES; NaN if either is empty (as MOSES)."""
    if not a or not b:
        return math.nan
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(count * large.get(key, 0) for key, count in small.items())
    norm_a = math.sqrt(sum(count * count for count in a.values()))
    norm_b = math.sqrt(sum(count * count for count in b.values()))
    return dot / (norm_a * norm_b)


# --------------------------------------------------------------------------
# Tanimoto similarity on fingerprint matrices


def fingerprints(smiles: Iterable[str]) -> sp.csr_matrix:
    """Morgan fingerprint matrix of valid SMILES (invalid ones raise)."""
    return morgan_matrix(to_mol(text) for text in smiles)


def _popcounts(fps: sp.csr_matrix) -> np.ndarray:
    return np.diff(fps.indptr).astype(np.float32)


def _count_dtype(*max_popcounts: int) -> type[np.unsignedinteger]:
    # An intersection count cannot exceed the smaller popcount of the pair;
    # uint8 halves memory traffic whenever it cannot overflow.
    return np.uint8 if min(max_popcounts) <= np.iinfo(np.uint8).max else np.uint16


def _tanimoto(inter: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto from intersection counts; two empty fingerprints count as identical (MOSES)."""
    inter = inter.astype(np.float32)
    union = a + b - inter
    return np.divide(inter, union, out=np.ones_like(inter), where=union > 0)


@dataclass(frozen=True)
class ReferenceFingerprints:
    """A reference set laid out for :func:`nearest_neighbour_similarity`.

    Sorted by popcount, so that within a run of equal popcount ``b`` the most
    similar reference is simply the one with the largest intersection ``c``
    (Tanimoto ``c / (a + b - c)`` grows with ``c``): a block of intersections
    reduces to one maximum per run before any division. Kept bit-packed (22 MB
    for the 176k MOSES test molecules instead of 180 MB) and unpacked one block
    of columns at a time, which costs ~0.1 s a pass.
    """

    packed_columns: np.ndarray  # (n_bits / 8, n_ref) uint8: byte j of every fingerprint
    popcounts: np.ndarray  # (n_ref,) int64, ascending
    n_bits: int

    @classmethod
    def from_dense(cls, fps: np.ndarray) -> ReferenceFingerprints:
        """From a (n_ref, n_bits) 0/1 matrix."""
        fps = np.asarray(fps, dtype=np.uint8)
        return cls.from_packed(np.packbits(fps, axis=1), fps.shape[1])

    @classmethod
    def from_packed(cls, packed: np.ndarray, n_bits: int) -> ReferenceFingerprints:
        """From rows bit-packed by ``np.packbits(fps, axis=1)``, e.g.
        ``test_stats().snn_fps_packed``."""
        popcounts = _row_popcounts(packed)
        order = np.argsort(popcounts, kind="stable")
        by_byte = np.ascontiguousarray(packed[order].T)  # (n_bits / 8, n_ref)
        return cls(by_byte, popcounts[order], n_bits)

    @property
    def n_ref(self) -> int:
        return self.packed_columns.shape[1]

    def columns(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(n_bits, hi - lo) uint8 0/1: reference fingerprints lo..hi as columns."""
        by_byte = self.packed_columns[:, lo:hi]
        # Byte row j holds bits 8j..8j+7, most significant first (packbits'
        # order). Eight contiguous shifts beat np.unpackbits(axis=0) ~8x here.
        columns = np.empty((by_byte.shape[0], 8, by_byte.shape[1]), dtype=np.uint8)
        for bit in range(8):
            np.right_shift(by_byte, 7 - bit, out=columns[:, bit])
        columns &= 1
        return columns.reshape(-1, by_byte.shape[1])[: self.n_bits]


_BYTE_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)


def _row_popcounts(packed: np.ndarray) -> np.ndarray:
    """Set bits per row of a bit-packed (n, n_bytes) uint8 matrix, int64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(packed).sum(axis=1, dtype=np.int64)
    return _BYTE_POPCOUNT[packed].sum(axis=1, dtype=np.int64)


_BlockRunner = Callable[[Callable[[slice], None]], object]


@contextlib.contextmanager
def _row_blocks(n_rows: int, n_threads: int) -> Iterator[_BlockRunner]:
    """Yields ``run(work)``, which calls ``work(rows)`` for every block of rows and waits.

    The sparse products and reductions release the GIL, so threads share them
    across cores (measured 1.7x on 2 cores); each block writes only its own rows,
    and each row's sums accumulate in the same order as on one thread.
    """
    blocks = [slice(start, start + _ROW_BLOCK) for start in range(0, n_rows, _ROW_BLOCK)]
    if n_threads <= 1 or len(blocks) <= 1:
        yield lambda work: collections.deque(map(work, blocks), maxlen=0)
        return
    with ThreadPoolExecutor(min(n_threads, len(blocks))) as pool:
        # draining the results waits for every block and re-raises a block's error
        yield lambda work: collections.deque(pool.map(work, blocks), maxlen=0)


def nearest_neighbour_similarity(
    fps: sp.csr_matrix,
    reference: ReferenceFingerprints | np.ndarray,
    *,
    device: str = "cpu",
    n_threads: int = 1,
) -> np.ndarray:
    """(n,) float32: each row's highest Tanimoto similarity to any reference fingerprint.

    SNN is the mean of this. ``device`` other than ``"cpu"`` uses a dense
    float16 product in torch there (exact: counts stay below 2048).
    """
    if not isinstance(reference, ReferenceFingerprints):
        reference = ReferenceFingerprints.from_dense(np.asarray(reference))
    if device != "cpu":
        return _nearest_torch(fps, reference, device)
    a = _popcounts(fps)
    dtype = _count_dtype(int(a.max(initial=0)), int(reference.popcounts.max(initial=0)))
    fps = fps.astype(dtype)
    best = np.zeros(fps.shape[0], dtype=np.float32)
    with _row_blocks(fps.shape[0], n_threads) as run:
        for lo in range(0, reference.n_ref, _COL_BLOCK):
            columns = reference.columns(lo, lo + _COL_BLOCK)  # (n_bits, cols)
            b = reference.popcounts[lo : lo + _COL_BLOCK]
            runs = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])  # first column of each popcount
            b_runs = b[runs].astype(np.float32)

            def nearest(rows: slice, columns=columns, runs=runs, b_runs=b_runs) -> None:
                inter = fps[rows] @ columns  # (rows, cols) intersection counts
                c_max = np.maximum.reduceat(inter, runs, axis=1)  # (rows, runs)
                sim = _tanimoto(c_max, a[rows, None], b_runs[None, :]).max(axis=1)
                np.maximum(best[rows], sim, out=best[rows])

            run(nearest)
    return best


def _nearest_torch(fps: sp.csr_matrix, reference: ReferenceFingerprints, device: str):
    import torch  # imported here so worker processes and CPU-only runs skip it

    columns = torch.as_tensor(reference.columns(), device=device).half()  # (n_bits, n_ref)
    b = torch.as_tensor(reference.popcounts, device=device).float()
    a_all = _popcounts(fps)
    best = []
    for start in range(0, fps.shape[0], _ROW_BLOCK):
        rows = torch.as_tensor(fps[start : start + _ROW_BLOCK].toarray(), device=device).half()
        inter = (rows @ columns).float()  # (rows, n_ref)
        a = torch.as_tensor(a_all[start : start + _ROW_BLOCK], device=device)[:, None]
        union = a + b[None, :] - inter
        sim = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
        best.append(sim.max(dim=1).values.cpu().numpy())
    return np.concatenate(best) if best else np.zeros(0, dtype=np.float32)


def internal_similarity(
    fps: sp.csr_matrix, *, n_threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per molecule, the mean Tanimoto similarity and mean squared similarity to all
    molecules of the set, itself included: both (n,) float64."""
    n = fps.shape[0]
    a = _popcounts(fps)
    fps = fps.astype(_count_dtype(int(a.max(initial=0))))
    sums = np.zeros(n)
    sums_sq = np.zeros(n)
    with _row_blocks(n, n_threads) as run:
        for lo in range(0, n, _COL_BLOCK):
            columns = fps[lo : lo + _COL_BLOCK].T.toarray()  # (n_bits, cols)
            b = a[None, lo : lo + _COL_BLOCK]

            def accumulate(rows: slice, columns=columns, b=b) -> None:
                sim = _tanimoto(fps[rows] @ columns, a[rows, None], b)
                sums[rows] += sim.sum(axis=1, dtype=np.float64)
                sums_sq[rows] += np.square(sim).sum(axis=1, dtype=np.float64)

            run(accumulate)
    return sums / n, sums_sq / n


def internal_diversity(fps: sp.csr_matrix, p: int = 1) -> float:
    """MOSES IntDiv_p: ``1 - mean_i (mean_j T(i, j)^p)^(1/p)`` over all pairs (p = 1 or 2)."""
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    if fps.shape[0] == 0:
        raise ValueError("internal diversity of an empty set is undefined")
    mean, mean_sq = internal_similarity(fps)
    return float(1 - (mean if p == 1 else np.sqrt(mean_sq)).mean())


# --------------------------------------------------------------------------
# Fréchet ChemNet Distance


@functools.cache
def _chemnet(device: str):
    import torch  # noqa: F401  (fcd_torch needs it; imported lazily, see _nearest_torch)
    from fcd_torch import FCD

    # FCD(...) loads the ChemNet weights shipped inside fcd_torch; we keep only
    # its network and run it ourselves on SMILES we have canonicalised.
    return FCD(device="cpu", n_jobs=1, canonize=False).model.to(device).eval()


# ChemNet batch: on 2 idle cores 128 took 2.39 ms a molecule and peaked at 787 MB, 512
# (fcd_torch's) 2.55 ms and 1,039 MB, 1024 2.89 ms and 1,313 MB, with identical
# activations (benchmarks/results/chemnet_batch.json, 4,096 MOSES test molecules).
CHEMNET_BATCH = 128


def chemnet_activations(
    canonical: Sequence[str],
    *,
    device: str = "cpu",
    batch_size: int = CHEMNET_BATCH,
    progress: Progress | None = None,
) -> np.ndarray:
    """(n, 512) float32 ChemNet penultimate activations, as MOSES's FCD uses them.

    Takes canonical SMILES (fcd_torch would otherwise parse them with RDKit
    again); a repeated string is run through the network once.
    """
    import torch
    from fcd_torch.utils import SmilesDataset
    from torch.utils.data import DataLoader

    distinct = list(dict.fromkeys(canonical))
    model = _chemnet(device)
    loader = DataLoader(SmilesDataset(distinct, canonize=False), batch_size=batch_size)
    stage = f"ChemNet activations of {len(distinct):,} molecules (FCD)"
    out: list[np.ndarray] = []
    done = 0
    if progress:
        progress(stage, 0, len(distinct))
    with torch.inference_mode():
        for batch in loader:  # (batch, 350, 35) one-hot / 35
            # a copy: ChemNet's output is a view of its last LSTM's whole output (~176 KB
            # a molecule), which would otherwise stay alive for every batch
            out.append(model(batch.transpose(1, 2).float().to(device)).cpu().numpy().copy())
            done += len(batch)
            if progress:
                progress(stage, done, len(distinct))
    if not out:
        return np.zeros((0, 512), dtype=np.float32)
    by_smiles = dict(zip(distinct, np.concatenate(out), strict=True))
    return np.stack([by_smiles[text] for text in canonical])


def gaussian_stats(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (ddof 1, as fcd_torch) of (n, d) activations, n >= 2."""
    if activations.shape[0] < 2:
        raise ValueError("FCD needs at least 2 molecules")
    activations = activations.astype(np.float64)
    return activations.mean(axis=0), np.cov(activations, rowvar=False)


class RunningGaussian:
    """Mean and sample covariance (ddof 1) of rows given a block at a time, merged as Chan,
    Golub and LeVeque do, so FCD never holds every molecule's 512 activations."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.scatter: np.ndarray | None = None  # sum of outer products of centred rows

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64)
        m = rows.shape[0]
        if m == 0:
            return
        mean = rows.mean(axis=0)
        centred = rows - mean
        scatter = centred.T @ centred
        if self.mean is None or self.scatter is None:
            self.n, self.mean, self.scatter = m, mean, scatter
            return
        delta = mean - self.mean
        n = self.n + m
        self.scatter = self.scatter + scatter + np.outer(delta, delta) * (self.n * m / n)
        self.mean = self.mean + delta * (m / n)
        self.n = n

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2 or self.mean is None or self.scatter is None:
            raise ValueError("FCD needs at least 2 molecules")
        return self.mean, self.scatter / (self.n - 1)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``: fcd_torch's own function."""
    from fcd_torch.utils import calculate_frechet_distance

    with warnings.catch_warnings():
        # fcd_torch passes sqrtm's deprecated disp=; the result is unaffected
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


# --------------------------------------------------------------------------
# The whole table


class _StageClock:
    """Logs the seconds each stage of a metric run took (INFO on this module's logger)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        log.info("%s: %.1f s", stage, now - self._last)
        self._last = now


@dataclass(frozen=True)
class _Reference:
    fcd_mu: np.ndarray
    fcd_sigma: np.ndarray
    fingerprints: ReferenceFingerprints
    frag: dict[str, int]
    scaf: dict[str, int]


@functools.lru_cache(maxsize=2)  # test and test_scaffolds: ~30 MB each
def _reference(split: str, cache: Path) -> _Reference:
    stats = test_stats(split, cache)
    return _Reference(
        fcd_mu=stats.fcd_mu,
        fcd_sigma=stats.fcd_sigma,
        fingerprints=ReferenceFingerprints.from_packed(stats.snn_fps_packed, MORGAN_BITS),
        frag=stats.frag,
        scaf=stats.scaf,
    )


def moses_metrics(
    generated: Sequence[str],
    *,
    train: Collection[str] | None = None,
    n_jobs: int | None = None,
    device: str = "cpu",
    include_fcd: bool = True,
    cache: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """The MOSES table row of ``generated`` (keys :data:`METRIC_NAMES`, in that order).

    ``train`` holds canonical SMILES of the training set (for ``Novelty``); by
    default the MOSES train split re-canonicalised by this RDKit
    (:func:`molgen.moses_data.train_canonical`). The MOSES data must have been
    prepared (:func:`molgen.moses_data.prepare_reference`); nothing is
    downloaded here. ``n_jobs`` processes (default: every usable CPU) share
    the per-molecule RDKit work; ``device`` runs ChemNet and the SNN products
    (e.g. ``"cuda"``). ``include_fcd=False`` skips FCD, the slowest metric on
    a CPU (~4 ms a molecule on 2 cores). ``progress(stage, done, total)`` is
    called as each stage advances. With no valid molecule every metric but
    ``Valid`` is NaN.
    """
    if not generated:
        raise ValueError("no generated molecules to evaluate")
    folder = moses_cache(cache)
    # Fail before minutes of work, in one line, if the data is not prepared.
    references = {split: _reference(split, folder) for split, _ in _REFERENCES}
    if train is None:
        train = train_canonical(folder)
    n_jobs = usable_cpus() if n_jobs is None else n_jobs
    clock = _StageClock()
    total = len(generated)
    stages = {"describe": f"describing {total:,} molecules (RDKit)",
              "chemnet": f"ChemNet activations of {total:,} molecules (FCD)",
              "snn": "SNN against the test sets"}
    # One chunk at a time: what is kept grows with the fingerprints (~100 bytes a
    # molecule) and the distinct canonical SMILES, fragments and scaffolds, not with
    # ChemNet's 2 KB a molecule or the per-molecule records.
    canonical: list[str] = []
    fp_parts: list[sp.csr_matrix] = []
    frag: Counter[str] = Counter()
    scaf: Counter[str] = Counter()
    passing = 0
    gaussian = RunningGaussian() if include_fcd else None
    snn_sums = dict.fromkeys((suffix for _, suffix in _REFERENCES), 0.0)
    pool = _describe_pool(n_jobs) if n_jobs > 1 and total > _CHUNK else None
    try:
        for start in range(0, total, EVAL_CHUNK):
            chunk = generated[start : start + EVAL_CHUNK]
            records = [r for r in describe_all(
                chunk, n_jobs=n_jobs, cache=folder, pool=pool,
                progress=_within(progress, stages["describe"], start, len(chunk), total))
                if r is not None]
            if not records:
                continue
            texts = [r.canonical for r in records]
            canonical += texts
            fps = fingerprint_matrix([r.fingerprint for r in records])
            fp_parts.append(fps)
            frag.update(fragment for r in records for fragment in r.fragments)
            scaf.update(r.scaffold for r in records if r.scaffold is not None)
            passing += sum(r.passes_filters for r in records)
            del records
            if gaussian is not None:
                gaussian.add(chemnet_activations(
                    texts, device=device,
                    progress=_within(progress, stages["chemnet"], start, len(chunk), total)))
            for split, suffix in _REFERENCES:
                snn = nearest_neighbour_similarity(
                    fps, references[split].fingerprints, device=device, n_threads=n_jobs)
                snn_sums[suffix] += float(snn.sum(dtype=np.float64))
            if progress:
                progress(stages["snn"], min(start + len(chunk), total), total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    clock.lap(f"described {total} molecules, their ChemNet activations and SNN")

    names = [n for n in METRIC_NAMES if include_fcd or not n.startswith("FCD")]
    result = dict.fromkeys(names, math.nan) | {"Valid": len(canonical) / total}
    if not canonical:
        warnings.warn("no valid molecule among the generated ones", stacklevel=2)
        return result
    result["Unique@1k"] = fraction_unique(canonical, 1000)
    result["Unique@10k"] = fraction_unique(canonical, 10_000)
    gen_fcd = gaussian.stats() if gaussian is not None and gaussian.n >= 2 else None
    for split, suffix in _REFERENCES:
        reference = references[split]
        if gen_fcd is not None:
            result[f"FCD/{suffix}"] = frechet_distance(
                reference.fcd_mu, reference.fcd_sigma, *gen_fcd
            )
        result[f"SNN/{suffix}"] = snn_sums[suffix] / len(canonical)
        result[f"Frag/{suffix}"] = cosine_similarity(frag, reference.frag)
        result[f"Scaf/{suffix}"] = cosine_similarity(scaf, reference.scaf)
    stage = "IntDiv, Frag, Scaf, Novelty"
    if progress:
        progress(stage, 0, 2)
    fps = sp.vstack(fp_parts, format="csr")
    if fps.shape[0] > INTDIV_MAX:
        warnings.warn(f"IntDiv and IntDiv2 computed on the first {INTDIV_MAX:,} of "
                      f"{fps.shape[0]:,} valid molecules (all pairs grow quadratically)",
                      stacklevel=2)
        fps = fps[:INTDIV_MAX]
    mean, mean_sq = internal_similarity(fps, n_threads=n_jobs)
    result["IntDiv"] = float(1 - mean.mean())
    result["IntDiv2"] = float(1 - np.sqrt(mean_sq).mean())
    clock.lap("IntDiv")
    if progress:
        progress(stage, 1, 2)
    result["Filters"] = passing / len(canonical)
    result["Novelty"] = novelty(canonical, train)
    clock.lap("Novelty")
    if progress:
        progress(stage, 2, 2)
    return result


def _within(progress: Progress | None, stage: str, start: int, size: int,
            total: int) -> Progress | None:
    """A chunk's progress (over its distinct molecules) as progress over the whole input."""
    if progress is None:
        return None

    def report(_: str, done: int, chunk_total: int) -> None:
        progress(stage, start + done * size // max(chunk_total, 1), total)

    return report
