"""`medgen img train` SIGKILLed mid-run and resumed with `--resume`: it continues from its
last checkpoint (generator, EMA generator, discriminator, both optimisers, epoch, and the
random state: batch order, noise, augmentation draws) and ends exactly where an
uninterrupted run with the same seed ends: the final val_kid (KID of a fixed set of
generated images against a fixed sample of training images) is equal to the last bit.

The data: BreastMNIST's 546 training images at 28 pixels, a 16-channel GAN, IMG_EPOCHS
epochs. (Before the random state was checkpointed, the resumed run's KID was only within
the 50% two seeds land apart at this size, and that was all this test could ask.)
"""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from tests.faults.conftest import REPO, assert_one_clear_line, finish, medgen

pytestmark = [pytest.mark.slow]

BREAST = REPO.parent / "shared" / "data" / "images" / "breastmnist.npz"
IMG_EPOCHS = 6


def img_train(out, *flags: str, env):
    return medgen("img", "train", "--data", str(BREAST), "--epochs", str(IMG_EPOCHS),
                  "--channels", "16", "--seed", "0", "--out", str(out), *flags, env=env)


def img_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    return {**env, "MEDGEN_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}


def checkpoint_epoch(path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001  (not there yet, or being written)
        return -1


def test_image_gan_training_killed_mid_run_resumes_to_the_same_kid(tmp_path, fault_log):
    env = img_env(tmp_path)

    code, out, err = finish(img_train(tmp_path / "full", env=env), timeout=600)
    assert code == 0, err
    uninterrupted = json.loads((tmp_path / "full" / "job.json").read_text())
    assert uninterrupted["epochs"] == IMG_EPOCHS

    killed = tmp_path / "killed"
    proc = img_train(killed, env=env)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while checkpoint_epoch(last) < 2:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr}"
        assert time.monotonic() < deadline, "no checkpoint of epoch 2 appeared"
        time.sleep(0.05)
    proc.kill()  # SIGKILL
    proc.wait()
    at_kill = checkpoint_epoch(last)
    assert 2 <= at_kill < IMG_EPOCHS - 1, at_kill
    assert json.loads((killed / "job.json").read_text())["status"] == "training"

    code, out, err = finish(medgen("img", "train", "--resume", "--out", str(killed), env=env),
                            timeout=600)
    assert code == 0, err
    assert "resuming" in out
    resumed = json.loads((killed / "job.json").read_text())
    assert resumed["status"] == "trained" and resumed["epochs"] == IMG_EPOCHS
    assert resumed["resumed_from"] == str(last)
    a, b = resumed["final_val_kid"], uninterrupted["final_val_kid"]
    print(f"imaging: killed after epoch {at_kill}; final val_kid resumed {a:.4f}, "
          f"uninterrupted {b:.4f}")
    fault_log(f"`img train` SIGKILLed mid-run ({IMG_EPOCHS} epochs), --resume",
              where=f"after epoch {at_kill}", metric="final val_kid", resumed=a, uninterrupted=b,
              tolerance="none: equal to the last bit")
    assert a == b
    # the resumed run samples like any finished one
    code, out, err = finish(medgen("img", "sample", "-n", "4", "--run", str(killed), "--out",
                                   str(tmp_path / "samples"), env=env))
    assert code == 0, err
    assert len(list((tmp_path / "samples").glob("*.png"))) >= 4


def test_resume_of_a_finished_or_checkpointless_run_is_one_clear_line(tmp_path):
    env = img_env(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "job.json").write_text(json.dumps({"status": "training", "config": {}}))
    code, _, err = finish(medgen("img", "train", "--resume", "--out", str(run), env=env))
    assert_one_clear_line(code, err, "no checkpoint yet")
    (run / "job.json").write_text(json.dumps({"status": "trained", "config": {}}))
    code, _, err = finish(medgen("img", "train", "--resume", "--out", str(run), env=env))
    assert_one_clear_line(code, err, "finished training already")
    code, _, err = finish(medgen("img", "train", "--resume", env=env))
    assert_one_clear_line(code, err, "--resume needs the run")
