"""A training process SIGKILLed mid-run and resumed: it continues from its last
checkpoint and ends where an uninterrupted run with the same seed ends.

Checkpoints carry the random state (training/rng_state.py), so a resumed run redoes the
epoch the kill cut short with the very draws (batch order, negatives, noise) the
uninterrupted run made: the final metric must be *equal*, not close.

Molecules: `medgen mol train` with the tiny VAE on 256 approved-drug SMILES, killed after
its checkpoint of epoch 2 and continued with `--resume`; the final validation loss must
equal the uninterrupted run's, and so must every weight.

Knowledge graph: `medgen kg train` on the tiny phenotype graph (seconds an epoch), killed
once its checkpoint of epoch 3 or later is on disk, then `--resume`d. Both runs are then
evaluated on the same held-out split; the test MRR of the resumed run must equal the
uninterrupted one's.
"""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest
import torch

from kg.sources.drugs import default_path
from kg.store import GraphStore
from tests.faults.conftest import assert_one_clear_line, finish, medgen
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


MOL_EPOCHS = 8


def mol_train(out, smiles, *flags: str, env) -> subprocess.Popen:
    return medgen("mol", "train", "--smiles", str(smiles), "--size", "tiny", "--epochs",
                  str(MOL_EPOCHS), "--batch-size", "16", "--max-time", "0", "--mixture", "0",
                  "--seed", "0", "--out", str(out), *flags, env=env)


def final_val_loss(run) -> float:
    """The last validation loss the run logged (a resumed run logs into a newer version)."""
    logs = sorted((run / "csv").glob("version_*/metrics.csv"),
                  key=lambda p: int(p.parent.name.split("_")[1]))
    rows = pd.read_csv(logs[-1])
    return float(rows["val_loss"].dropna().iloc[-1])


def test_molecule_training_killed_mid_run_resumes_to_the_same_loss(fault_server, tmp_path,
                                                                   fault_log):
    """`medgen mol train` on 256 approved-drug SMILES (the tiny VAE), killed after its
    checkpoint of epoch 2, continued with `--resume`: the same weights, to the last bit."""
    smiles = pd.read_parquet(default_path(), columns=["smiles"])["smiles"].dropna()
    corpus = tmp_path / "corpus.smi"
    corpus.write_text("\n".join([s for s in smiles if len(s) <= 40][:256]) + "\n")
    env = fault_server.env()
    full = tmp_path / "full"
    code, out, err = finish(mol_train(full, corpus, env=env))
    assert code == 0, err
    assert f"for {MOL_EPOCHS} epochs" in out, out

    killed = tmp_path / "killed"
    proc = mol_train(killed, corpus, env=env)
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

    # no data options: the run's own molecules and settings come back
    code, out, err = finish(medgen("mol", "train", "--resume", "--out", str(killed), env=env))
    assert code == 0, err
    assert "resuming" in out and f"for {MOL_EPOCHS} epochs" in out, out
    a, b = final_val_loss(killed), final_val_loss(full)
    print(f"molecules: killed after epoch {at_kill}; val loss resumed {a:.4f}, "
          f"uninterrupted {b:.4f}")
    fault_log(f"`mol train` SIGKILLed mid-run ({MOL_EPOCHS} epochs), --resume",
              where=f"after epoch {at_kill}", metric="validation loss", resumed=a,
              uninterrupted=b, tolerance=EXACT)
    assert a == b
    resumed = torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)
    whole = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    # and a finished run is not resumed again
    code, _, err = finish(medgen("mol", "train", "--resume", "--out", str(killed), env=env))
    assert_one_clear_line(code, err, "finished training already")
