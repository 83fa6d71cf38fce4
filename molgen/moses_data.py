"""The MOSES benchmark data, read out of the ``molsets==0.3.1`` wheel.

MOSES (Polykovskiy et al., Front. Pharmacol. 2020) ships its splits and
precomputed test statistics inside the ``molsets`` wheel. The package itself
cannot be installed or imported on current Python/RDKit/numpy (it pins an old
pomegranate and uses removed pandas/numpy APIs), so we never ``import moses``:
its members are read with :mod:`zipfile` out of the wheel in the cache folder
(``training.paths.cache_dir() / "moses"``).

Everything is prepared once per machine by :func:`prepare_reference`
(``scripts/prepare_moses.py``, which ``scripts/setup.sh`` runs): the wheel is
fetched with ``pip download --no-deps`` (the only download, never in the middle
of a command), the test statistics are decoded, and the 1.58M training SMILES
are re-canonicalised by this RDKit in worker processes into a sorted array of
64-bit hashes for Novelty (12 MB on disk, loaded in milliseconds). Readers
never download: without the prepared data they raise
:class:`MosesDataUnavailable`, whose one line says what to run. Decoded members
(SMILES lists, test statistics) are cached next to the wheel as plain ``.txt`` /
``.npz`` / ``.json`` files, because gunzipping 1.6M SMILES or unpickling the
190 MB statistics takes seconds every time.

Members used (paths inside the wheel):

- ``moses/dataset/data/{train,test,test_scaffolds}.csv.gz``: one column,
  ``SMILES``; 1,584,663 / 176,074 / 176,225 molecules.
- ``moses/dataset/data/{test,test_scaffolds}_stats.npz``: see
  :class:`MosesTestStats`.
- ``moses/metrics/mcf.csv`` and ``wehi_pains.csv``: the SMARTS of the Filters
  metric, see :func:`filter_smarts`.
"""

from __future__ import annotations

import codecs
import collections
import csv
import functools
import gzip
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.lib import format as npy_format
from rdkit import rdBase

from molgen.chem import canonical_smiles_many
from molgen.errors import MolgenError
from training.paths import cache_dir

try:  # numpy >= 2 moved the pickling helpers to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.26
    from numpy.core.multiarray import _reconstruct

MOSES_VERSION = "0.3.1"
WHEEL_NAME = f"molsets-{MOSES_VERSION}-py3-none-any.whl"
# sha256 of the file PyPI serves (files.pythonhosted.org/.../ca/04/335f23e9...).
# Checked because the statistics are pickles: a wheel placed by hand must be
# the real one before we unpickle anything from it.
WHEEL_SHA256 = "7f4450e3ebecebe79c3a2a55950c93daddee071120daf64a163d03481e811d34"

Split = Literal["train", "test", "test_scaffolds"]
TestSplit = Literal["test", "test_scaffolds"]
SPLITS: tuple[str, ...] = ("train", "test", "test_scaffolds")
SPLIT_SIZES = {"train": 1_584_663, "test": 176_074, "test_scaffolds": 176_225}

_DATA_DIR = "moses/dataset/data"
_PIP_TIMEOUT_S = 600
_TRAIN_CHUNK = 10_000  # SMILES per worker task: ~1.5 s of work, so the tail is short


class MosesDataUnavailable(MolgenError):
    """The MOSES wheel cannot be had, is not the real one, or lacks a member."""


# --------------------------------------------------------------------------
# The wheel


def moses_cache(cache: Path | None = None) -> Path:
    """The folder holding the wheel and the decoded files: ``cache`` or ``cache_dir()/moses``."""
    return Path(cache) if cache is not None else cache_dir() / "moses"


PREPARE_COMMAND = "python scripts/prepare_moses.py"


def _not_prepared(folder: Path, what: str) -> MosesDataUnavailable:
    # One line: the CLI prints it as its error and a test run shows it as the failure.
    return MosesDataUnavailable(
        f"the MOSES reference data is not prepared in {folder} ({what} is missing): "
        f"run `{PREPARE_COMMAND}` once (scripts/setup.sh does)"
    )


def wheel_path(cache: Path | None = None) -> Path:
    """Path of the verified ``molsets`` wheel; never downloads (see :func:`fetch_wheel`)."""
    folder = moses_cache(cache)
    path = folder / WHEEL_NAME
    if not path.is_file():
        raise _not_prepared(folder, WHEEL_NAME)
    stat = path.stat()
    _verify_wheel(path, stat.st_size, stat.st_mtime_ns)
    return path


def fetch_wheel(cache: Path | None = None) -> Path:
    """:func:`wheel_path`, downloading the wheel first if it is missing.

    Runs ``python -m pip download --no-deps molsets==0.3.1`` into a temporary
    folder inside the cache and moves the wheel into place, so an interrupted
    download never leaves a partial file behind. Only :func:`prepare_reference`
    calls this: a command that needs the data never downloads by itself.
    """
    folder = moses_cache(cache)
    if not (folder / WHEEL_NAME).is_file():
        _download_wheel(folder)
    return wheel_path(folder)


def _by_hand(folder: Path) -> str:
    return (
        f"To place it by hand, run `pip download --no-deps molsets=={MOSES_VERSION}` on a "
        f"machine with internet access and copy {WHEEL_NAME} into {folder} "
        "(or set MEDGEN_CACHE_DIR to a folder whose moses/ subfolder holds it)."
    )


def _download_wheel(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        f"molsets=={MOSES_VERSION}",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        try:
            done = subprocess.run(
                [*command, "-d", tmp], capture_output=True, text=True, timeout=_PIP_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise MosesDataUnavailable(
                f"could not run `{' '.join(command)}`: {err}. {_by_hand(folder)}"
            ) from err
        fetched = Path(tmp) / WHEEL_NAME
        if done.returncode != 0 or not fetched.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise MosesDataUnavailable(
                f"`{' '.join(command)}` failed (exit {done.returncode}; no network?):\n{tail}\n"
                + _by_hand(folder)
            )
        os.replace(fetched, folder / WHEEL_NAME)


@functools.cache
def _verify_wheel(path: Path, size: int, mtime_ns: int) -> None:
    # Keyed on size and mtime so a replaced file is checked again; hashing
    # 52 MB once per process costs ~0.1 s.
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WHEEL_SHA256:
        raise MosesDataUnavailable(
            f"{path} is not the molsets {MOSES_VERSION} wheel from PyPI (sha256 "
            f"{digest.hexdigest()}, expected {WHEEL_SHA256}); delete it and run "
            f"`{PREPARE_COMMAND}` again. " + _by_hand(path.parent)
        )


def read_member(name: str, cache: Path | None = None) -> bytes:
    """The bytes of one file inside the wheel, e.g. ``"moses/metrics/mcf.csv"``."""
    with zipfile.ZipFile(wheel_path(cache)) as wheel:
        try:
            return wheel.read(name)
        except KeyError:
            raise MosesDataUnavailable(f"{name!r} is not in {WHEEL_NAME}") from None


# --------------------------------------------------------------------------
# Decoded-file cache


def _decoded_dir(cache: Path | None) -> Path:
    return moses_cache(cache) / f"decoded-{MOSES_VERSION}"


def _write_atomic(path: Path, write) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_lines(path: Path, lines: list[str]) -> None:
    _write_atomic(path, lambda handle: handle.write(("\n".join(lines) + "\n").encode("ascii")))


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines()


# --------------------------------------------------------------------------
# SMILES splits


def _check_split(split: str, allowed: tuple[str, ...] = SPLITS) -> None:
    if split not in allowed:
        raise ValueError(f"unknown MOSES split {split!r}; expected one of {allowed}")


def moses_smiles(split: Split, *, cache: Path | None = None) -> list[str]:
    """The SMILES of one MOSES split, as MOSES wrote them, in the file's order.

    Novelty compares against the training set re-canonicalised by this RDKit
    instead: :func:`train_canonical`.
    """
    _check_split(split)
    raw_path = _decoded_dir(cache) / f"{split}.txt"
    if not raw_path.is_file():
        text = gzip.decompress(read_member(f"{_DATA_DIR}/{split}.csv.gz", cache)).decode("ascii")
        header, *smiles = text.splitlines()
        if header.strip() != "SMILES":
            raise MosesDataUnavailable(f"{split}.csv.gz: expected a SMILES column, got {header!r}")
        _write_lines(raw_path, smiles)
    return _read_lines(raw_path)


# --------------------------------------------------------------------------
# The training set, canonical, as hashes


def smiles_hash(smiles: str) -> int:
    """The 64-bit key :class:`HashedSmiles` stores for one string (BLAKE2b, 8 bytes)."""
    return int.from_bytes(hashlib.blake2b(smiles.encode(), digest_size=8).digest(), "little")


def _hashes(smiles: Iterable[str]) -> np.ndarray:
    digest = b"".join(hashlib.blake2b(s.encode(), digest_size=8).digest() for s in smiles)
    return np.frombuffer(digest, dtype="<u8").astype(np.uint64)


@dataclass(frozen=True, eq=False)
class HashedSmiles(Collection):
    """A set of SMILES strings kept as their sorted 64-bit hashes.

    The MOSES training set as Python strings costs ~400 MB and 2-3 s to load;
    as hashes it is 12.7 MB and loads in milliseconds. Two different strings
    share a hash with probability 2^-64 per pair: over 1.6M training keys and
    30,000 generated molecules the chance of a single wrong Novelty count is
    about 3e-9.
    """

    hashes: np.ndarray  # (n,) uint64, sorted, distinct

    @classmethod
    def from_smiles(cls, smiles: Iterable[str]) -> HashedSmiles:
        return cls(np.unique(_hashes(smiles)))

    def contains(self, smiles: Sequence[str]) -> np.ndarray:
        """(len(smiles),) bool: which strings are in the set."""
        keys = _hashes(smiles)
        at = np.minimum(np.searchsorted(self.hashes, keys), max(len(self.hashes) - 1, 0))
        return self.hashes[at] == keys if len(self.hashes) else np.zeros(len(keys), bool)

    def __contains__(self, smiles: object) -> bool:
        return isinstance(smiles, str) and bool(self.contains([smiles])[0])

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("a HashedSmiles set keeps hashes only; its strings cannot be listed")


def _train_hashes_path(cache: Path | None) -> Path:
    return _decoded_dir(cache) / f"train.canonical-rdkit{rdBase.rdkitVersion}.blake2b64.npy"


def train_canonical(cache: Path | None = None) -> HashedSmiles:
    """The MOSES training set re-canonicalised by this RDKit (what Novelty compares to).

    About 0.05% of the MOSES strings are not canonical for current RDKit, so
    they are parsed and written again (:func:`molgen.chem.canonical_smiles`) by
    :func:`prepare_reference`; this only loads the result.
    """
    path = _train_hashes_path(cache)
    if not path.is_file():
        raise _not_prepared(moses_cache(cache), path.name)
    return HashedSmiles(np.load(path))


def _canonical_hash_chunk(smiles: list[str]) -> np.ndarray:
    """Hashes of :func:`molgen.chem.canonical_smiles` of each string (its batch form)."""
    return _hashes(canonical_smiles_many(smiles))


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _canonical_hashes(smiles: list[str], n_jobs: int, progress: Progress | None) -> np.ndarray:
    stage = f"canonicalising {len(smiles):,} training molecules"
    total, done, parts = len(smiles), 0, []
    if progress:
        progress(stage, 0, total)
    if n_jobs <= 1:
        pieces: Iterable[np.ndarray] = map(_canonical_hash_chunk, _chunks(smiles, _TRAIN_CHUNK))
        pool = None
    else:
        # spawn, not fork: the caller may hold torch/driver threads that a forked
        # child would inherit in an undefined state.
        pool = ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn"))
        pieces = pool.map(_canonical_hash_chunk, _chunks(smiles, _TRAIN_CHUNK))
    try:
        for part in pieces:
            parts.append(part)
            done += len(part)
            if progress:
                progress(stage, done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)


# --------------------------------------------------------------------------
# Preparation


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _stamp_path(cache: Path | None) -> Path:
    return _decoded_dir(cache) / f"prepared-rdkit{rdBase.rdkitVersion}.json"


def is_prepared(cache: Path | None = None) -> bool:
    """Whether :func:`prepare_reference` has completed in this cache for this RDKit."""
    return _stamp_path(cache).is_file()


def prepare_reference(
    cache: Path | None = None, *, n_jobs: int | None = None, progress: Progress | None = None
) -> dict:
    """Fetch the wheel and prepare everything the MOSES metrics read, once.

    Steps: the wheel (``pip download``, the only network use), the two test
    statistics, the three SMILES lists, and the training set canonicalised in
    ``n_jobs`` processes (default: every usable CPU) into
    :func:`train_canonical`'s hashes. ``progress(stage, done, total)`` is
    called as each step advances. A stamp records what was done, so a second
    call returns it at once; returns that record.
    """
    stamp = _stamp_path(cache)
    if stamp.is_file():
        return json.loads(stamp.read_text())
    n_jobs = usable_cpus() if n_jobs is None else n_jobs
    start = time.perf_counter()

    def step(name: str, run):
        if progress:
            progress(name, 0, 1)
        result = run()
        if progress:
            progress(name, 1, 1)
        return result

    step(f"molsets {MOSES_VERSION} wheel (pip download)", lambda: fetch_wheel(cache))
    for split in ("test", "test_scaffolds"):
        step(f"{split} statistics", lambda split=split: test_stats(split, cache))
    filter_smarts(cache)  # reads the wheel only: a member missing fails here, not mid-run
    for split in ("test", "test_scaffolds"):  # decoded for the benchmarks; not kept here
        step(f"{split} SMILES", lambda s=split: len(moses_smiles(s, cache=cache)))
    train = step("train SMILES", lambda: moses_smiles("train", cache=cache))
    hashes = _canonical_hashes(train, n_jobs, progress)
    path = _train_hashes_path(cache)
    _write_atomic(path, lambda handle: np.save(handle, hashes))
    record = {
        "molsets": MOSES_VERSION,
        "rdkit": rdBase.rdkitVersion,
        "train_molecules": len(train),
        "train_canonical_distinct": int(len(hashes)),
        "n_jobs": n_jobs,
        "seconds": round(time.perf_counter() - start, 1),
    }
    _write_atomic(stamp, lambda handle: handle.write(json.dumps(record, indent=2).encode()))
    return record


# --------------------------------------------------------------------------
# Test statistics


@dataclass(frozen=True)
class MosesTestStats:
    """What ``{split}_stats.npz`` holds, precomputed by MOSES over the whole split.

    In the npz it is one pickled dict ``{"FCD": {"mu", "sigma"}, "SNN": {"fps"},
    "Frag": {"frag"}, "Scaf": {"scaf"}, "logP"|"SA"|"QED"|"weight": {"values"}}``.
    """

    fcd_mu: np.ndarray  # (512,) float32: mean ChemNet penultimate-layer activation
    fcd_sigma: np.ndarray  # (512, 512) float64: covariance of those activations
    snn_fps_packed: np.ndarray  # (n_split, 128) uint8: np.packbits of snn_fps' rows
    frag: dict[str, int]  # BRICS fragment SMILES (with [n*] dummies) -> count
    scaf: dict[str, int]  # Bemis-Murcko scaffold SMILES with >= 2 rings -> count
    properties: dict[str, np.ndarray]  # "logP", "SA", "QED", "weight" -> (n_split,) values

    @property
    def snn_fps(self) -> np.ndarray:
        """(n_split, 1024) uint8 0/1: Morgan radius 2, 1024 bits (180 MB, built on each call)."""
        return np.unpackbits(self.snn_fps_packed, axis=1)


# Everything the MOSES statistics pickles reference; anything else is refused
# so that a tampered file cannot run code while being read.
_STATS_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("_codecs", "encode"): codecs.encode,
    ("collections", "Counter"): collections.Counter,
}
_PROPERTY_KEYS = ("logP", "SA", "QED", "weight")


class _StatsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _STATS_GLOBALS[(module, name)]
        except KeyError:
            raise MosesDataUnavailable(
                f"MOSES statistics reference {module}.{name}, which is not allowed"
            ) from None


def _unpickle_stats(npz: bytes) -> dict:
    """Read the single object array ``stats`` of a MOSES ``*_stats.npz``."""
    with zipfile.ZipFile(io.BytesIO(npz)) as archive:
        handle = io.BytesIO(archive.read("stats.npy"))
    version = npy_format.read_magic(handle)
    read_header = {
        (1, 0): npy_format.read_array_header_1_0,
        (2, 0): npy_format.read_array_header_2_0,
    }.get(version)
    if read_header is None:
        raise MosesDataUnavailable(f"unsupported .npy version {version} in MOSES statistics")
    shape, _, dtype = read_header(handle)
    if dtype != np.dtype(object) or shape != ():
        raise MosesDataUnavailable(f"unexpected statistics array: shape {shape}, dtype {dtype}")
    # latin1, as numpy itself uses for pickles written by older Pythons
    stats = _StatsUnpickler(handle, encoding="latin1").load()
    return stats.item() if isinstance(stats, np.ndarray) else stats


def test_stats(split: TestSplit = "test", cache: Path | None = None) -> MosesTestStats:
    """MOSES's precomputed statistics of ``test`` or ``test_scaffolds``.

    Decoded from the wheel into the cache by :func:`prepare_reference`.
    """
    _check_split(split, ("test", "test_scaffolds"))
    folder = _decoded_dir(cache) / f"{split}_stats"
    arrays_path, counts_path = folder / "arrays.npz", folder / "counts.json"
    if not (arrays_path.is_file() and counts_path.is_file()):
        stats = _unpickle_stats(read_member(f"{_DATA_DIR}/{split}_stats.npz", cache))
        fps = np.asarray(stats["SNN"]["fps"], dtype=np.uint8)
        arrays = {
            "fcd_mu": np.asarray(stats["FCD"]["mu"]),
            "fcd_sigma": np.asarray(stats["FCD"]["sigma"]),
            "snn_fps_packed": np.packbits(fps, axis=1),  # 8x smaller on disk
            **{key: np.asarray(stats[key]["values"], dtype=np.float64) for key in _PROPERTY_KEYS},
        }
        counts = {"frag": dict(stats["Frag"]["frag"]), "scaf": dict(stats["Scaf"]["scaf"])}
        _write_atomic(arrays_path, lambda handle: np.savez(handle, **arrays))
        _write_atomic(counts_path, lambda handle: handle.write(json.dumps(counts).encode()))
    with np.load(arrays_path) as arrays:
        loaded = {key: arrays[key] for key in arrays.files}
    counts = json.loads(counts_path.read_text())
    return MosesTestStats(
        fcd_mu=loaded["fcd_mu"],
        fcd_sigma=loaded["fcd_sigma"],
        snn_fps_packed=loaded["snn_fps_packed"],
        frag=counts["frag"],
        scaf=counts["scaf"],
        properties={key: loaded[key] for key in _PROPERTY_KEYS},
    )


test_stats.__test__ = False  # a data loader, not a test, whatever pytest's name rule says


# --------------------------------------------------------------------------
# Filter SMARTS


def filter_smarts(cache: Path | None = None) -> list[tuple[str, str]]:
    """``(name, SMARTS)`` of the Filters metric: 22 MCF alerts, then 480 PAINS.

    ``mcf.csv`` has a ``names,smarts`` header; ``wehi_pains.csv`` has no header,
    its rows are ``"SMARTS","<regId=name>"`` padded with spaces.
    """
    mcf = csv.DictReader(io.StringIO(read_member("moses/metrics/mcf.csv", cache).decode()))
    rows = [(row["names"].strip(), row["smarts"].strip()) for row in mcf]
    pains = csv.reader(io.StringIO(read_member("moses/metrics/wehi_pains.csv", cache).decode()))
    rows += [(name.strip(), smarts.strip()) for smarts, name in pains]
    return rows
