"""The MOSES files read out of the molsets wheel (the real wheel, from the cache).

The data is prepared once per machine by scripts/prepare_moses.py, which
scripts/setup.sh (and so the test command) runs; where it is missing these
tests fail with the one line that says to run it, they never skip.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from molgen import moses_data
from molgen.chem import canonical_smiles
from molgen.errors import InvalidMolecule
from molgen.moses_data import HashedSmiles, MosesDataUnavailable


@pytest.fixture(scope="session")
def wheel() -> Path:
    return moses_data.wheel_path()  # raises, saying what to run, if not prepared


@pytest.fixture
def fresh_cache(tmp_path: Path, wheel: Path) -> Path:
    """An empty cache folder holding only (a link to) the real wheel."""
    folder = tmp_path / "moses"
    folder.mkdir()
    os.symlink(wheel, folder / moses_data.WHEEL_NAME)
    return folder


def _no_pip(*args, **kwargs):
    raise AssertionError("pip must not run here")


# --------------------------------------------------------------------------
# The wheel


def test_wheel_in_cache_is_used_without_pip(fresh_cache, monkeypatch):
    monkeypatch.setattr(subprocess, "run", _no_pip)
    assert moses_data.wheel_path(fresh_cache) == fresh_cache / moses_data.WHEEL_NAME
    assert moses_data.fetch_wheel(fresh_cache) == fresh_cache / moses_data.WHEEL_NAME


@pytest.mark.parametrize(
    "read",
    [
        moses_data.wheel_path,
        lambda cache: moses_data.moses_smiles("test", cache=cache),
        lambda cache: moses_data.test_stats("test", cache),
        moses_data.filter_smarts,
        moses_data.train_canonical,
    ],
)
def test_readers_never_download_and_say_in_one_line_what_to_run(tmp_path, monkeypatch, read):
    monkeypatch.setattr(subprocess, "run", _no_pip)
    folder = tmp_path / "moses"
    with pytest.raises(MosesDataUnavailable) as caught:
        read(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert f"run `{moses_data.PREPARE_COMMAND}`" in message and str(folder) in message
    assert not folder.exists()  # nothing was fetched or written


def test_missing_wheel_is_fetched_once_with_pip_download(tmp_path, wheel, monkeypatch):
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        target = Path(command[command.index("-d") + 1])
        shutil.copy(wheel, target / moses_data.WHEEL_NAME)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    folder = tmp_path / "moses"
    assert moses_data.fetch_wheel(folder) == folder / moses_data.WHEEL_NAME
    assert moses_data.fetch_wheel(folder) == folder / moses_data.WHEEL_NAME
    assert len(calls) == 1
    assert calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "molsets==0.3.1" in calls[0]
    assert [p.name for p in folder.iterdir()] == [moses_data.WHEEL_NAME]  # no temp left


def test_failed_download_says_how_to_place_the_wheel(tmp_path, monkeypatch):
    def offline_pip(command, **kwargs):
        return subprocess.CompletedProcess(
            command, 1, "", "ERROR: No matching distribution found for molsets==0.3.1"
        )

    monkeypatch.setattr(subprocess, "run", offline_pip)
    folder = tmp_path / "moses"
    with pytest.raises(MosesDataUnavailable) as caught:
        moses_data.fetch_wheel(folder)
    message = str(caught.value)
    assert "No matching distribution" in message
    assert "pip download --no-deps molsets==0.3.1" in message
    assert str(folder) in message and "by hand" in message
    assert list(folder.iterdir()) == []


def test_a_file_that_is_not_the_real_wheel_is_refused(tmp_path):
    folder = tmp_path / "moses"
    folder.mkdir()
    (folder / moses_data.WHEEL_NAME).write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(MosesDataUnavailable, match="not the molsets 0.3.1 wheel"):
        moses_data.wheel_path(folder)


def test_read_member(fresh_cache):
    header = moses_data.read_member("moses/metrics/mcf.csv", fresh_cache).splitlines()[0]
    assert header == b"names,smarts"
    with pytest.raises(MosesDataUnavailable, match="not in"):
        moses_data.read_member("moses/no/such/file.csv", fresh_cache)


# --------------------------------------------------------------------------
# SMILES


def test_moses_smiles_decodes_once_into_the_cache(fresh_cache, monkeypatch):
    test = moses_data.moses_smiles("test", cache=fresh_cache)
    assert len(test) == moses_data.SPLIT_SIZES["test"] == 176_074
    assert test[0] == "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1"

    def no_wheel(*args, **kwargs):
        raise AssertionError("the decoded list must come from the cache")

    monkeypatch.setattr(moses_data, "read_member", no_wheel)
    assert moses_data.moses_smiles("test", cache=fresh_cache) == test


@pytest.mark.parametrize("split", moses_data.SPLITS)
def test_split_sizes(split, wheel):
    smiles = moses_data.moses_smiles(split)
    assert len(smiles) == moses_data.SPLIT_SIZES[split]
    assert all(smiles[:100])


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="unknown MOSES split"):
        moses_data.moses_smiles("valid")
    with pytest.raises(ValueError, match="unknown MOSES split"):
        moses_data.test_stats("train")


# --------------------------------------------------------------------------
# The canonical training set


def test_hashed_smiles_is_a_set_of_strings():
    kept = HashedSmiles.from_smiles(["CCO", "c1ccccc1", "CCO", "CCN"])
    assert len(kept) == 3
    assert "CCO" in kept and "CCN" in kept and "CCC" not in kept and 5 not in kept
    np.testing.assert_array_equal(kept.contains(["CCN", "OCC", "c1ccccc1"]), [True, False, True])
    assert np.all(np.diff(kept.hashes.astype(np.float64)) > 0)  # sorted, distinct
    assert moses_data.smiles_hash("CCO") in set(kept.hashes.tolist())
    empty = HashedSmiles.from_smiles([])
    assert "CCO" not in empty and not empty.contains(["CCO"]).any()
    with pytest.raises(TypeError, match="hashes only"):
        list(kept)


def test_canonical_hash_chunk_equals_canonical_smiles():
    # The fast path must give chem.canonical_smiles' strings, including for
    # input it treats specially (surrounding whitespace, non-canonical spellings).
    smiles = ["OCC", "C1=CC=CC=C1", "N#CC", "C(Cl)(Cl)Cl", " CCO ", "C[C@H](N)C(=O)O"]
    expected = HashedSmiles.from_smiles(canonical_smiles(s) for s in smiles).hashes
    np.testing.assert_array_equal(np.unique(moses_data._canonical_hash_chunk(smiles)), expected)
    for bad in ["C1CC", "", "CC\u00e9"]:  # unparsable, empty, a character RDKit truncates at
        with pytest.raises(InvalidMolecule):
            moses_data._canonical_hash_chunk(["CCO", bad])


@pytest.mark.slow
def test_canonicalising_in_worker_processes_gives_the_same_set():
    smiles = ["OCC", "C1=CC=CC=C1", "N#CC", "C(Cl)(Cl)Cl"] * 3
    serial = moses_data._canonical_hashes(smiles, n_jobs=1, progress=None)
    assert len(serial) == 4
    np.testing.assert_array_equal(moses_data._canonical_hashes(smiles, 2, None), serial)


def test_prepare_reference_builds_everything_once(fresh_cache, monkeypatch):
    # A short training list already decoded in the cache stands in for the
    # 1.58M molecules (the real run is scripts/prepare_moses.py's).
    decoded = fresh_cache / f"decoded-{moses_data.MOSES_VERSION}"
    decoded.mkdir()
    (decoded / "train.txt").write_text("OCC\nC1=CC=CC=C1\nCCO\nCC(=O)Nc1ccc(O)cc1\n")
    calls = []
    record = moses_data.prepare_reference(
        fresh_cache, n_jobs=1, progress=lambda *a: calls.append(a)
    )
    assert moses_data.is_prepared(fresh_cache)
    assert record["train_molecules"] == 4 and record["train_canonical_distinct"] == 3
    train = moses_data.train_canonical(fresh_cache)
    assert all(s in train for s in ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1"])
    assert "OCC" not in train  # the spelling MOSES wrote is not what novelty compares
    stages = {stage for stage, _, _ in calls}
    assert any("wheel" in s for s in stages) and any("canonicalising 4" in s for s in stages)
    assert all(0 <= done <= total for _, done, total in calls)
    finished = {stage for stage, done, total in calls if done == total}
    assert finished == stages  # every stage reached its end
    assert moses_data.test_stats("test", fresh_cache).fcd_mu.shape == (512,)

    def no_work(*args, **kwargs):
        raise AssertionError("a prepared cache must not be prepared again")

    monkeypatch.setattr(moses_data, "_canonical_hashes", no_work)
    monkeypatch.setattr(moses_data, "fetch_wheel", no_work)
    assert moses_data.prepare_reference(fresh_cache) == record


def test_prepared_training_set_holds_every_training_molecule(wheel):
    train = moses_data.train_canonical()
    assert moses_data.is_prepared()
    # re-canonicalisation merges no two MOSES molecules
    assert len(train) == moses_data.SPLIT_SIZES["train"]
    sample = random.Random(0).sample(moses_data.moses_smiles("train"), 2000)
    assert train.contains([canonical_smiles(s) for s in sample]).all()
    test = random.Random(0).sample(moses_data.moses_smiles("test"), 2000)
    # MOSES's test molecules are not in its training set
    assert not train.contains([canonical_smiles(s) for s in test]).any()


# --------------------------------------------------------------------------
# Test statistics and filters


@pytest.mark.parametrize(
    ("split", "n", "n_frag", "n_scaf"),
    [("test", 176_074, 16_038, 77_114), ("test_scaffolds", 176_225, 13_137, 44_885)],
)
def test_stats_contents(split, n, n_frag, n_scaf, wheel):
    stats = moses_data.test_stats(split)
    assert stats.fcd_mu.shape == (512,)
    assert stats.fcd_sigma.shape == (512, 512)
    np.testing.assert_allclose(stats.fcd_sigma, stats.fcd_sigma.T)
    assert stats.snn_fps.shape == (n, 1024) and stats.snn_fps.dtype == np.uint8
    assert set(np.unique(stats.snn_fps[:1000])) == {0, 1}
    assert (len(stats.frag), len(stats.scaf)) == (n_frag, n_scaf)
    assert sorted(stats.properties) == ["QED", "SA", "logP", "weight"]
    assert all(values.shape == (n,) for values in stats.properties.values())


@pytest.mark.slow
def test_stats_decoding_matches_numpys_own_reader(fresh_cache):
    # numpy's allow_pickle reader is the independent reference for our
    # restricted unpickler and the packed on-disk cache.
    member = moses_data.read_member("moses/dataset/data/test_stats.npz", fresh_cache)
    raw = np.load(io.BytesIO(member), allow_pickle=True)["stats"].item()
    stats = moses_data.test_stats("test", fresh_cache)
    np.testing.assert_array_equal(stats.fcd_mu, raw["FCD"]["mu"])
    np.testing.assert_array_equal(stats.fcd_sigma, raw["FCD"]["sigma"])
    np.testing.assert_array_equal(stats.snn_fps, raw["SNN"]["fps"])
    assert stats.frag == dict(raw["Frag"]["frag"])
    assert stats.scaf == dict(raw["Scaf"]["scaf"])
    np.testing.assert_array_equal(stats.properties["QED"], raw["QED"]["values"])


def test_statistics_pickle_may_not_reference_other_globals():
    payload = np.empty((), dtype=object)
    payload[()] = {"FCD": os.system}  # pickled as a reference to posix.system
    npy = io.BytesIO()
    np.save(npy, payload, allow_pickle=True)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("stats.npy", npy.getvalue())
    with pytest.raises(MosesDataUnavailable, match="system"):
        moses_data._unpickle_stats(npz.getvalue())


def test_filter_smarts(wheel):
    rows = moses_data.filter_smarts()
    assert len(rows) == 22 + 480
    assert [name for name, _ in rows[:22]] == [f"MCF{i}" for i in range(1, 23)]
    assert all(name.startswith("<regId=") for name, _ in rows[22:])
    assert all(smarts == smarts.strip() for _, smarts in rows)
    assert all(Chem.MolFromSmarts(smarts) is not None for _, smarts in rows)
