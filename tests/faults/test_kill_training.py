"""A training process SIGKILLed mid-run and resumed: it continues from its last
checkpoint and ends where an uninterrupted run with the same seed ends.

Checkpoints carry the random state (training/rng_state.py), so a resumed run redoes the
epoch the kill cut short with the very draws (batch order, negatives, noise) the
uninterrupted run made: the final metric must be *equal*, not close.

Molecules: a tiny VAE on 256 approved-drug SMILES (tests/faults/mol_trainer.py, the
shared engine as `mol train` uses it), killed after its checkpoint of epoch 2 and resumed;
the final validation loss must equal the uninterrupted run's.

Knowledge graph: `medgen kg train` on the tiny phenotype graph (seconds an epoch), killed
once its checkpoint of epoch 3 or later is on disk, then `--resume`d. Both runs are then
evaluated on the same held-out split; the test MRR of the resumed run must equal the
uninterrupted one's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from kg.store import GraphStore
from tests.faults.conftest import REPO, finish, medgen
from tests.kg import phenotype_toy as toy

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

EPOCHS = 12
EXACT = "none: equal to the last bit"
CONFIG = {"model": {"dim": 16, "loss": "ce", "lr": 0.05, "batch_size": 4},
          "train": {"max_epochs": EPOCHS, "accelerator": "cpu", "seed": 0, "patience": None},
          "split": {"seed": 0}, "top_k": 3, "embeddings": False}


def mrr(outcome: dict) -> float:
    return next(r["mrr"] for r in outcome["ranking"] if r["relation"] == "(all)")


def checkpoint_epoch(path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001  (not there yet, or being written)
        return -1


def test_kg_training_killed_mid_run_resumes_to_the_same_metric(fault_server, tmp_path,
                                                               fault_log):
    fault_server.clear()
    with fault_server.driver() as driver:
        GraphStore(driver).write(toy.tables())
    config = tmp_path / "job.json"
    config.write_text(json.dumps(CONFIG))
    env = fault_server.env(MEDGEN_STATE_DIR=str(tmp_path / "state"))

    full = tmp_path / "full"
    code, out, err = finish(medgen("kg", "train", "--config", str(config), "--run-id", "full",
                                   "--out", str(full), "--format", "json", env=env))
    assert code == 0, err
    uninterrupted = json.loads(out)
    assert uninterrupted["epochs"] == EPOCHS

    killed = tmp_path / "killed"
    proc = medgen("kg", "train", "--config", str(config), "--run-id", "killed", "--out",
                  str(killed), "--format", "json", env=env)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while checkpoint_epoch(last) < 3:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr}"
        assert time.monotonic() < deadline, "no checkpoint of epoch 3 appeared"
        time.sleep(0.05)
    proc.kill()  # SIGKILL
    proc.wait()
    at_kill = checkpoint_epoch(last)
    assert 3 <= at_kill < EPOCHS - 1, at_kill
    assert not (killed / "model.ckpt").exists()

    code, out, err = finish(medgen("kg", "train", "--resume", "--out", str(killed),
                                   "--run-id", "killed", "--format", "json", env=env))
    assert code == 0, err
    resumed = json.loads(out)
    assert resumed["resumed_from"] == str(last) and resumed["epochs"] == EPOCHS
    print(f"killed after epoch {at_kill}; test MRR resumed {mrr(resumed):.4f}, "
          f"uninterrupted {mrr(uninterrupted):.4f}")
    fault_log(f"`kg train` SIGKILLed mid-run ({EPOCHS} epochs), --resume",
              where=f"after epoch {at_kill}", metric="test MRR", resumed=mrr(resumed),
              uninterrupted=mrr(uninterrupted),
              tolerance=EXACT)
    assert resumed["ranking"] == uninterrupted["ranking"]
    # each run wrote one set of predictions under its own run id
    counts = {r["run"]: r["n"] for r in fault_server.query(
        "MATCH ()-[p:PREDICTED_ASSOCIATED_WITH]->() RETURN p.run_id AS run, count(p) AS n")}
    assert set(counts) == {"full", "killed"}
    assert counts["killed"] == sum(resumed["predictions"].values())


MOL_TRAINER = REPO / "tests" / "faults" / "mol_trainer.py"
MOL_EPOCHS = 8


def mol_train(out, *flags: str, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(MOL_TRAINER), str(out), str(MOL_EPOCHS),
                             *flags], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_molecule_training_killed_mid_run_resumes_to_the_same_loss(fault_server, tmp_path,
                                                                   fault_log):
    env = fault_server.env()
    code, out, err = finish(mol_train(tmp_path / "full", env=env))
    assert code == 0, err
    uninterrupted = json.loads(out.strip().splitlines()[-1])
    assert uninterrupted["epochs"] == MOL_EPOCHS

    killed = tmp_path / "killed"
    proc = mol_train(killed, env=env)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while checkpoint_epoch(last) < 2:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr}"
        assert time.monotonic() < deadline, "no checkpoint of epoch 2 appeared"
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    at_kill = checkpoint_epoch(last)
    assert 2 <= at_kill < MOL_EPOCHS - 1, at_kill

    code, out, err = finish(mol_train(killed, "--resume", env=env))
    assert code == 0, err
    resumed = json.loads(out.strip().splitlines()[-1])
    assert resumed["resumed_from"] == str(last) and resumed["epochs"] == MOL_EPOCHS
    a, b = resumed["val_loss"], uninterrupted["val_loss"]
    print(f"molecules: killed after epoch {at_kill}; val loss resumed {a:.4f}, "
          f"uninterrupted {b:.4f}")
    fault_log(f"VAE training SIGKILLed mid-run ({MOL_EPOCHS} epochs), resumed",
              where=f"after epoch {at_kill}", metric="validation loss", resumed=a, uninterrupted=b,
              tolerance=EXACT)
    assert a == b
