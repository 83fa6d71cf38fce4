"""`medgen img ...` in-process through ``medgen.cli.main``: train a tiny GAN on a tiny npz,
sample PNGs (all classes, one class), evaluate the run, and bad input (corrupt npz, labels
that do not match, an empty folder, a bad resolution, no run yet) as one line, exit 1,
and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgen import cli


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def tiny_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 12), ("val", 2), ("test", 6)):
        labels = np.arange(n) % 2
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        images[labels == 1, 8:20, 8:20] += 150
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels[:, None]
    np.savez(path, **arrays)
    return path


def test_help_explains_the_group(capsys):
    assert any(group.name == "img" for group in cli.app.registered_groups)
    code, out, _ = run(capsys, "img", "--help")
    assert code == 0
    for command in ("train", "sample", "evaluate"):
        assert command in out
    code, out, _ = run(capsys, "img", "train", "--help")
    assert code == 0 and "demo set" in out and "--max-time" in out


def test_train_sample_evaluate(capsys, state, tmp_path):
    data = tiny_npz(tmp_path / "tiny.npz")
    code, out, err = run(capsys, "img", "train", "--data", str(data), "--epochs", "2",
                         "--channels", "4", "--batch-size", "4")
    assert code == 0, err
    assert "tiny: 12 train / 6 test images" in out
    run_dir = Path((state / "imaging" / "runs" / "LATEST").read_text().strip())
    job = json.loads((run_dir / "job.json").read_text())
    assert job["status"] == "trained" and job["epochs"] == 2
    assert (run_dir / "model.ckpt").exists()

    code, out, err = run(capsys, "img", "sample", "-n", "5", "--out", str(tmp_path / "s"))
    assert code == 0, err
    pngs = sorted((tmp_path / "s").glob("sample-*.png"))
    assert len(pngs) == 5 and (tmp_path / "s" / "grid.png").exists()
    with Image.open(pngs[0]) as image:
        assert image.size == (28, 28) and image.mode == "L"
    first = [np.asarray(Image.open(p)) for p in pngs]
    code, _, _ = run(capsys, "img", "sample", "-n", "5", "--out", str(tmp_path / "again"))
    again = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "again").glob("sample-*"))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))

    code, out, err = run(capsys, "img", "sample", "-n", "3", "--class", "1", "--run",
                         str(run_dir), "--out", str(tmp_path / "one"))
    assert code == 0, err
    assert all(p.name.endswith("-1.png") for p in (tmp_path / "one").glob("sample-*"))
    code, _, err = run(capsys, "img", "sample", "-n", "3", "--class", "7", "--out",
                       str(tmp_path / "none"))
    assert code == 1 and "no class '7'" in err and not (tmp_path / "none").exists()

    code, out, err = run(capsys, "img", "evaluate", "--max-compare", "6", "--format", "json")
    assert code == 0, err
    rows = {row["figure"]: row["value"] for row in json.loads(out)}
    assert rows["FID floor train vs test"] > 0
    assert rows["goal memorised_share_at_most_2pct"] in ("met", "NOT met")
    report = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    assert report["sizes"]["generated"] == 6 and 0 <= report["tstr_auc"] <= 1


def one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, _, err = result
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line.strip()]
    text = " ".join(line.strip() for line in lines)
    assert text.startswith("error:"), err
    for fragment in fragments:
        assert fragment in text, text


def nothing_written(state: Path) -> None:
    runs = state / "imaging" / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_corrupt_npz(capsys, state, tmp_path):
    path = tiny_npz(tmp_path / "bad.npz")
    path.write_bytes(path.read_bytes()[:300])
    one_line_error(run(capsys, "img", "train", "--data", str(path)), str(path),
                   "not a readable npz")
    nothing_written(state)


def test_labels_that_do_not_match(capsys, state, tmp_path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, train_images=np.zeros((4, 28, 28), np.uint8), train_labels=np.zeros(3, int),
             test_images=np.zeros((2, 28, 28), np.uint8), test_labels=np.zeros(2, int))
    one_line_error(run(capsys, "img", "train", "--data", str(path)), "labels do not match")
    nothing_written(state)


def test_empty_folder_and_bad_resolution(capsys, state, tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(run(capsys, "img", "train", "--data", str(tmp_path / "empty")), "empty")
    one_line_error(run(capsys, "img", "train", "--data", str(tiny_npz(tmp_path / "t.npz")),
                       "--resolution", "30"), "resolution must be one of")
    nothing_written(state)


def test_no_run_yet(capsys, state):
    one_line_error(run(capsys, "img", "evaluate"), "no imaging run yet")
    one_line_error(run(capsys, "img", "sample", "-n", "2", "--out", "x"), "no imaging run yet")
