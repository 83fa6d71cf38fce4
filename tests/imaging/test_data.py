"""Image readers on tiny generated files (npz, PNG folders, a bundled DICOM, a NIfTI written
with nibabel), the demo set, and every bad input: one ImageSourceError naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from imaging.data import (
    DEMO_PLANES,
    TEST_FRACTION,
    demo_set,
    load_image_set,
    stratified_split,
    to_gray,
)
from imaging.errors import ImageSourceError
from training.errors import MedgenError


def write_npz(path: Path, *, n_train: int = 10, n_test: int = 4, size: int = 28,
              channels: int | None = None, label_shape: str = "flat", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("val", 2), ("test", n_test)):
        shape = (n, size, size) if channels is None else (n, size, size, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        labels = np.arange(n) % 2
        arrays[f"{split}_labels"] = labels[:, None] if label_shape == "column" else labels
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_npz_keeps_the_files_splits_and_labels(tmp_path, label_shape):
    path = write_npz(tmp_path / "set.npz", label_shape=label_shape)
    images = load_image_set(path, 28)
    assert images.train_images.shape == (10, 28, 28) and images.test_images.shape == (4, 28, 28)
    assert images.train_labels.tolist() == [0, 1] * 5
    assert images.class_names == ["0", "1"]
    with np.load(path) as raw:
        assert np.array_equal(images.train_images, raw["train_images"])  # no resize, no change
    assert "splits: the file's own train and test" in images.notes


def test_npz_rgb_is_converted_to_one_channel_and_resized_with_a_note(tmp_path):
    path = write_npz(tmp_path / "rgb.npz", channels=3)
    images = load_image_set(path, 32)
    assert images.train_images.shape == (10, 32, 32)
    assert any("3-channel images to one channel" in n for n in images.notes)
    assert any("resized 28x28 images to 32x32" in n for n in images.notes)


def test_to_gray_uses_luma():
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[..., 1] = 200  # pure green
    gray, _ = to_gray(rgb, Path("x"), "images")
    assert gray.dtype == np.uint8 and int(gray[0, 0, 0]) == round(0.587 * 200)


def test_shared_breastmnist_reads_as_documented(shared_data):
    images = load_image_set(shared_data / "images" / "breastmnist.npz", 28)
    assert (len(images.train_images), len(images.test_images)) == (546, 156)
    assert images.num_classes == 2


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_png_folder_with_one_subfolder_per_class(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("benign", "malignant"):
        for i in range(5):
            write_png(tmp_path / "pngs" / cls / f"{i}.png",
                      rng.integers(0, 256, (40, 30, 3), dtype=np.uint8))
    images = load_image_set(tmp_path / "pngs", 28, seed=3)
    assert images.class_names == ["benign", "malignant"]
    assert len(images.train_images) + len(images.test_images) == 10
    assert images.class_counts("test").tolist() == [1, 1]  # 20% of each class, stratified
    assert images.train_images.shape[1:] == (28, 28)
    assert any("padded with black" in n for n in images.notes)
    assert any(f"{TEST_FRACTION:.0%} of each class held out" in n for n in images.notes)
    again = load_image_set(tmp_path / "pngs", 28, seed=3)
    assert np.array_equal(images.test_images, again.test_images)  # the split is seeded


def test_png_folder_with_a_labels_csv_and_16_bit_images(tmp_path):
    rng = np.random.default_rng(1)
    lines = ["file,label"]
    for i in range(6):
        write_png(tmp_path / "pngs" / f"{i}.png",
                  rng.integers(0, 65535, (28, 28), dtype=np.uint16))
        lines.append(f"{i}.png,{'a' if i < 3 else 'b'}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    images = load_image_set(tmp_path / "pngs", 28, labels_csv=tmp_path / "labels.csv")
    assert images.class_names == ["a", "b"]
    assert images.train_images.dtype == np.uint8 and images.train_images.max() > 200


def test_dicom_from_pydicoms_bundled_files(tmp_path):
    series = tmp_path / "series"
    series.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name, download=False), series / name)
    images = load_image_set(series, 32)
    assert len(images.train_images) + len(images.test_images) == 2
    assert images.train_images.shape[1:] == (32, 32)
    with pytest.raises(ImageSourceError, match="too few for a train and a test split"):
        load_image_set(series / "CT_small.dcm", 28)  # one slice cannot be split


def test_nifti_volume_cut_into_slices(tmp_path):
    volume = np.zeros((20, 20, 12), np.float32)
    volume[4:16, 4:16, 1:11] = np.linspace(100, 1000, 10)  # 10 slices with content
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "brain.nii.gz")
    images = load_image_set(tmp_path / "brain.nii.gz", 28)
    assert len(images.train_images) + len(images.test_images) == 10
    assert len(images.test_images) == 2
    assert any("axial slices" in n for n in images.notes)


def test_demo_set_is_three_planes_every_fifth_slice_held_out():
    images = demo_set(28)
    assert images.demo and images.class_names == list(DEMO_PLANES)
    assert "demo" in images.name
    for cls in range(3):
        n_train, n_test = images.class_counts("train")[cls], images.class_counts("test")[cls]
        assert n_test == (n_train + n_test) // 5
    assert images.train_images.shape[1:] == (28, 28)


def test_stratified_split_keeps_every_class():
    labels = np.array([0] * 10 + [1] * 5)
    train, test = stratified_split(labels, 0.2, seed=0)
    assert sorted(labels[test].tolist()) == [0, 0, 1]
    assert set(train) | set(test) == set(range(15)) and not set(train) & set(test)


# ---- bad input: one clear error naming the file ----------------------------------------------

def bad(path: Path, *fragments: str, **kwargs) -> ImageSourceError:
    with pytest.raises(ImageSourceError) as info:
        load_image_set(path, 28, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, MedgenError)
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_npz_labels_that_do_not_match_the_images(tmp_path):
    path = tmp_path / "short.npz"
    np.savez(path, train_images=np.zeros((5, 28, 28), np.uint8), train_labels=np.zeros(4, int),
             test_images=np.zeros((2, 28, 28), np.uint8), test_labels=np.zeros(2, int))
    error = bad(path, str(path), "labels do not match", "5 train images but 4")
    assert error.path == str(path)


def test_corrupt_npz(tmp_path):
    path = write_npz(tmp_path / "set.npz")
    path.write_bytes(path.read_bytes()[:200])
    bad(path, str(path), "not a readable npz")


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8))
    bad(path, "no 'train_images' array")


def test_channels_that_cannot_be_converted(tmp_path):
    path = write_npz(tmp_path / "five.npz", channels=5)
    bad(path, str(path), "5 channels", "only 1, 2")


def test_corrupt_dicom(tmp_path):
    path = tmp_path / "slice.dcm"
    original = Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()
    path.write_bytes(original[:1000])  # header kept, pixel data cut
    bad(path, str(path), "not a readable DICOM")


def test_corrupt_nifti(tmp_path):
    path = tmp_path / "brain.nii"
    path.write_bytes(b"\x00" * 100)
    bad(path, str(path), "not a readable NIfTI")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    bad(tmp_path / "empty", "empty")


def test_folder_without_images(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("no images here")
    bad(tmp_path / "docs", "holds no images")


def test_unreadable_png_names_the_file(tmp_path):
    write_png(tmp_path / "pngs" / "a" / "ok.png", np.zeros((28, 28), np.uint8))
    broken = tmp_path / "pngs" / "a" / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    bad(tmp_path / "pngs", str(broken), "not a readable image")


def test_labels_csv_that_does_not_match_the_images(tmp_path):
    for i in range(3):
        write_png(tmp_path / "pngs" / f"{i}.png", np.zeros((28, 28), np.uint8))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n0.png,a\n1.png,b\nmissing.png,a\n")
    bad(tmp_path / "pngs", str(labels), "1 image file(s) have no label", "'missing.png'",
        labels_csv=labels)


def test_missing_path(tmp_path):
    bad(tmp_path / "nope.npz", "no such file")


def test_unsupported_resolution_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="resolution must be one of"):
        load_image_set(write_npz(tmp_path / "s.npz"), 30)
