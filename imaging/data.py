"""Image sets for the GAN: readers for MedMNIST npz files, PNG folders, DICOM series and
NIfTI volumes, and the offline demo set (slices of nilearn's MNI152 T1 template).

Every reader returns an :class:`ImageSet`: one-channel uint8 images of one square size
(``resolution``), integer labels, a train and a test split, and ``notes`` that say what
was done to the images on the way (channels dropped, resizing, the split made). The
files are parsed by their own libraries (numpy, Pillow, pydicom, nibabel); a file that
cannot be read raises :class:`~imaging.errors.ImageSourceError` naming it, before
anything is written anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaging.errors import ImageSourceError

RESOLUTIONS = (28, 32, 64)
TEST_FRACTION = 0.2  # held out, stratified by class, where a source has no test split
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")
# Of each anatomical plane of the demo volume, every fifth kept slice is a test slice.
DEMO_TEST_EVERY = 5
DEMO_NAME = "demo set: MNI152 T1 template slices (nilearn)"
DEMO_PLANES = ("sagittal", "coronal", "axial")


@dataclass
class ImageSet:
    """Images (N, R, R) uint8 and labels (N,) int64 of a train and a test split."""

    name: str
    source: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]
    notes: list[str] = field(default_factory=list)
    demo: bool = False

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.ndim != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
                raise ValueError(f"{split} images must be (N, R, R) uint8, got "
                                 f"{images.shape} {images.dtype}")
            if labels.shape != (len(images),):
                raise ValueError(f"{split} labels {labels.shape} do not match {len(images)} "
                                 "images")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise ValueError(f"{split} labels must lie in [0, {len(self.class_names)})")
        if len(self.train_images) == 0 or len(self.test_images) == 0:
            raise ValueError("an image set needs train and test images")

    @property
    def resolution(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self, split: str = "train") -> np.ndarray:
        labels = getattr(self, f"{split}_labels")
        return np.bincount(labels, minlength=self.num_classes)

    def fingerprint(self) -> str:
        """A short hash of the images and labels: the key of cached features."""
        h = hashlib.sha256()
        for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            h.update(str(array.shape).encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in
                           zip(self.class_names, self.class_counts("train"), strict=True))
        return (f"{self.name}: {len(self.train_images)} train / {len(self.test_images)} test "
                f"images, {self.resolution}x{self.resolution}, one channel; train classes "
                f"{counts}")


# ---- pixel conversion ------------------------------------------------------------------

def to_gray(array: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, str | None]:
    """(N, H, W[, C]) images as (N, H, W) one channel, and a note when channels changed.
    Gray + alpha keeps the gray; RGB and RGBA become ITU-R 601 luma (Pillow's "L")."""
    if array.ndim == 3:
        return array, None
    if array.ndim != 4:
        raise ImageSourceError(path, f"{what} have shape {array.shape}; expected (N, H, W) or "
                               "(N, H, W, C)")
    channels = array.shape[-1]
    if channels == 1:
        return array[..., 0], None
    if channels == 2:
        return array[..., 0], f"{what}: dropped the alpha channel of gray + alpha images"
    if channels in (3, 4):
        rgb = array[..., :3].astype(np.float64)
        gray = rgb @ np.array([0.299, 0.587, 0.114])
        if array.dtype == np.uint8:
            gray = np.round(gray).astype(np.uint8)
        return gray, f"{what}: converted {channels}-channel images to one channel (luma)"
    raise ImageSourceError(path, f"{what} have {channels} channels; only 1, 2 (gray + alpha), "
                           "3 (RGB) or 4 (RGBA) can be converted to one channel")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any numeric image as uint8: uint8 as is, others scaled from their 0.5th-99.5th
    percentile range (of the values given: pass a whole volume to keep slices comparable)."""
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(finite, [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    scaled = np.clip((np.nan_to_num(values, nan=low) - low) / (high - low), 0.0, 1.0)
    return np.round(scaled * 255).astype(np.uint8)


def square_resize(images: Sequence[np.ndarray], resolution: int) -> tuple[np.ndarray, str | None]:
    """uint8 2-D images of any sizes as (N, R, R): padded to a square with black (the
    aspect ratio kept), then resized with Pillow's antialiased bilinear filter."""
    from PIL import Image

    out = np.empty((len(images), resolution, resolution), np.uint8)
    sizes = set()
    for i, image in enumerate(images):
        sizes.add(image.shape)
        height, width = image.shape
        side = max(height, width)
        if height != width:
            padded = np.zeros((side, side), np.uint8)
            top, left = (side - height) // 2, (side - width) // 2
            padded[top:top + height, left:left + width] = image
            image = padded
        if side != resolution:
            image = np.asarray(Image.fromarray(image).resize((resolution, resolution),
                                                             Image.Resampling.BILINEAR))
        out[i] = image
    changed = sorted(s for s in sizes if s != (resolution, resolution))
    if not changed:
        return out, None
    shown = ", ".join(f"{h}x{w}" for h, w in changed[:4]) + (" ..." if len(changed) > 4 else "")
    padding_note = " (non-square ones padded with black first)" if any(h != w for h, w in changed) \
        else ""
    return out, f"resized {shown} images to {resolution}x{resolution}{padding_note}"


def check_resolution(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    return resolution


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded train / test split keeping each class's share (at least one
    test image per class with two or more images)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(members) * test_fraction))
        n_test = min(max(n_test, 1 if len(members) > 1 else 0), len(members) - 1)
        test.extend(members[:n_test])
        train.extend(members[n_test:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(test, dtype=np.int64))


def _split_set(name: str, source: str, images: np.ndarray, labels: np.ndarray,
               class_names: list[str], notes: list[str], path: Path, *, test_fraction: float,
               seed: int) -> ImageSet:
    train, test = stratified_split(labels, test_fraction, seed)
    if len(train) == 0 or len(test) == 0:
        raise ImageSourceError(path, f"{len(images)} image(s) are too few for a train and a "
                               "test split")
    notes.append(f"no split in the source: {test_fraction:.0%} of each class held out as "
                 f"test (seeded, seed {seed})")
    return ImageSet(name=name, source=source, train_images=images[train],
                    train_labels=labels[train], test_images=images[test],
                    test_labels=labels[test], class_names=class_names, notes=notes)


# ---- labels ------------------------------------------------------------------------------

def read_labels_csv(path: Path) -> dict[str, str]:
    """A CSV with a header naming a ``file`` column and a ``label`` column."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
                raise ImageSourceError(path, "a labels CSV needs a header with the columns "
                                       f"'file' and 'label'; found {reader.fieldnames}")
            rows = {}
            for line, row in enumerate(reader, start=2):
                file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
                if not file or not label:
                    raise ImageSourceError(path, f"line {line}: empty file or label")
                if file in rows:
                    raise ImageSourceError(path, f"line {line}: {file!r} is listed twice")
                rows[file] = label
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ImageSourceError(path, f"cannot read the labels CSV: {err}") from err
    if not rows:
        raise ImageSourceError(path, "the labels CSV lists no files")
    return rows


def _encode_labels(names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    classes = sorted(set(names), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[n] for n in names], dtype=np.int64), classes


def _match_labels(files: Sequence[Path], root: Path, labels_csv: Path) -> list[str]:
    labels = read_labels_csv(labels_csv)
    keys = [f.relative_to(root).as_posix() for f in files]
    missing = [k for k in keys if k not in labels]
    unknown = sorted(set(labels) - set(keys))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"{len(missing)} image file(s) have no label (e.g. {missing[0]!r})")
        if unknown:
            parts.append(f"{len(unknown)} listed file(s) are not images in {root} "
                         f"(e.g. {unknown[0]!r})")
        raise ImageSourceError(labels_csv, "labels do not match the images: " + "; ".join(parts))
    return [labels[k] for k in keys]


# ---- MedMNIST npz ----------------------------------------------------------------------------

def read_npz(path: Path, resolution: int) -> ImageSet:
    """A MedMNIST-style npz: ``{train,val,test}_images`` (N, H, W[, C]) and
    ``*_labels`` (N,) or (N, 1), with the file's own splits (val is not used)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ImageSourceError(path, f"not a readable npz file ({type(err).__name__}: {err})"
                               ) from err
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        if key not in arrays:
            raise ImageSourceError(path, f"no {key!r} array; a MedMNIST npz holds "
                                   f"train/test images and labels (found {sorted(arrays)})")
    notes: list[str] = []
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ImageSourceError(path, f"{split}_labels have shape {labels.shape}; expected "
                                   "(N,) or (N, 1) class labels (multi-label sets are not "
                                   "supported)")
        if len(labels) != len(images):
            raise ImageSourceError(path, f"labels do not match the images: {len(images)} "
                                   f"{split} images but {len(labels)} {split} labels")
        if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
            raise ImageSourceError(path, f"{split}_labels must be non-negative integers")
        gray, note = to_gray(images, path, f"{split} images")
        if note:
            notes.append(note)
        resized, note = square_resize([to_uint8(g) for g in gray], resolution)
        if note:
            notes.append(f"{split}: {note}")
        splits[split] = (resized, labels.astype(np.int64))
    n_classes = int(max(splits["train"][1].max(), splits["test"][1].max())) + 1
    notes.append("splits: the file's own train and test")
    return ImageSet(name=path.name.removesuffix(".npz"), source=str(path),
                    train_images=splits["train"][0], train_labels=splits["train"][1],
                    test_images=splits["test"][0], test_labels=splits["test"][1],
                    class_names=[str(i) for i in range(n_classes)], notes=notes)


# ---- PNG (and other Pillow-readable) folders ------------------------------------------------

def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                return to_uint8(np.asarray(picture))  # 16-bit / float: scaled, not clipped
            return np.asarray(picture.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ImageSourceError(path, f"not a readable image ({err})") from err


def read_image_folder(root: Path, resolution: int, *, labels_csv: Path | None = None,
                      test_fraction: float = TEST_FRACTION, seed: int = 0) -> ImageSet:
    """PNG (or JPEG, BMP, TIFF) files: labelled by ``labels_csv`` (columns file, label;
    paths relative to ``root``), else by their sub-folder (one per class), else one class."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in
                   IMAGE_SUFFIXES)
    if not files:
        raise ImageSourceError(root, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the "
                               "folder")
    notes: list[str] = []
    if labels_csv is not None:
        names = _match_labels(files, root, Path(labels_csv))
        notes.append(f"labels from {labels_csv}")
    else:
        parents = [f.parent.relative_to(root).as_posix() for f in files]
        if any(p == "." for p in parents) and len(set(parents)) > 1:
            loose = next(f for f, p in zip(files, parents, strict=True) if p == ".")
            raise ImageSourceError(loose, "images both at the top of the folder and in "
                                   "class sub-folders: put every image in a class folder or "
                                   "give a labels CSV")
        names = ["0" if p == "." else p for p in parents]
        notes.append("one class" if set(parents) == {"."} else "classes from sub-folders")
    pictures = [_read_picture(f) for f in files]
    images, note = square_resize(pictures, resolution)
    notes.append("converted to one channel (luma) where needed")
    if note:
        notes.append(note)
    labels, classes = _encode_labels(names)
    return _split_set(root.name, str(root), images, labels, classes, notes, root,
                      test_fraction=test_fraction, seed=seed)


# ---- volumes: DICOM series and NIfTI --------------------------------------------------------

def _dicom_frames(path: Path) -> tuple[list[np.ndarray], tuple[float, ...]]:
    """The frames of one DICOM file (rescaled to modality values) and a sort key."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
        pixels = apply_modality_lut(pixels, dataset)
    except (InvalidDicomError, OSError, ValueError, AttributeError, RuntimeError,
            NotImplementedError, EOFError) as err:
        raise ImageSourceError(path, f"not a readable DICOM image ({type(err).__name__}: "
                               f"{err})") from err
    samples = int(getattr(dataset, "SamplesPerPixel", 1))
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    array = np.asarray(pixels, dtype=np.float64)
    if samples > 1:  # colour: (..., H, W, C) -> luma
        array, _ = to_gray(array.reshape((-1, *array.shape[-3:])), path, "DICOM frames")
    array = array.reshape((frames, *array.shape[-2:]))
    position = getattr(dataset, "ImagePositionPatient", None)
    key = (float(getattr(dataset, "InstanceNumber", 0) or 0),
           *(float(v) for v in (position or ())))
    return list(array), key


def _nifti_volume(path: Path) -> np.ndarray:
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        image = nib.load(path)
        volume = np.asarray(image.dataobj, dtype=np.float64)
    except (ImageFileError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ImageSourceError(path, f"not a readable NIfTI volume ({type(err).__name__}: "
                               f"{err})") from err
    if volume.ndim == 4:
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[..., None]
    if volume.ndim != 3:
        raise ImageSourceError(path, f"a NIfTI volume of shape {volume.shape}; expected 2-4 "
                               "dimensions")
    return volume


def volume_slices(volume: np.ndarray, axis: int, *, min_content: float = 0.05
                  ) -> list[np.ndarray]:
    """2-D uint8 slices of a volume along ``axis`` (intensities scaled over the whole
    volume), leaving out slices whose share of non-background pixels is below
    ``min_content``."""
    scaled = to_uint8(volume)
    slices = []
    for index in range(scaled.shape[axis]):
        image = np.take(scaled, index, axis=axis)
        if (image > 0).mean() >= min_content:
            slices.append(np.ascontiguousarray(np.rot90(image)))
    return slices


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def read_volumes(root: Path, resolution: int, *, labels_csv: Path | None = None,
                 test_fraction: float = TEST_FRACTION, seed: int = 0) -> ImageSet:
    """A DICOM file, a DICOM series (a folder of slice files), a NIfTI file or a folder of
    NIfTI volumes as 2-D slices: one class, unless ``labels_csv`` labels the files (a
    volume's slices share its label)."""
    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    nifti = [f for f in files if f.name.lower().endswith(NIFTI_SUFFIXES)]
    dicom = [f for f in files if f not in nifti and _is_dicom(f)]
    if not nifti and not dicom:
        raise ImageSourceError(root, "no DICOM or NIfTI files")
    if nifti and dicom:
        raise ImageSourceError(root, "both DICOM and NIfTI files: give one kind per source")
    base = root.parent if root.is_file() else root
    names = (_match_labels(nifti or dicom, base, Path(labels_csv)) if labels_csv is not None
             else ["0"] * len(nifti or dicom))
    pictures: list[np.ndarray] = []
    picture_names: list[str] = []
    notes: list[str] = []
    if nifti:
        for file, name in zip(nifti, names, strict=True):
            cut = volume_slices(_nifti_volume(file), axis=2)
            pictures += cut
            picture_names += [name] * len(cut)
        notes.append(f"{len(nifti)} NIfTI volume(s) cut into {len(pictures)} axial slices "
                     "(near-empty slices left out)")
    else:
        # One series: every file's frames, ordered by instance number and position,
        # scaled together so that slices keep their relative intensities.
        frames = []
        for file, name in zip(dicom, names, strict=True):
            file_frames, key = _dicom_frames(file)
            frames += [(key, i, frame, name) for i, frame in enumerate(file_frames)]
        frames.sort(key=lambda item: (item[0], item[1]))
        if len({f[2].shape for f in frames}) == 1:
            scaled = to_uint8(np.stack([f[2] for f in frames]))
            pictures = list(scaled)
        else:
            pictures = [to_uint8(f[2]) for f in frames]
        picture_names = [f[3] for f in frames]
        notes.append(f"{len(dicom)} DICOM file(s), {len(pictures)} slice(s)")
    if not pictures:
        raise ImageSourceError(root, "the volumes hold no slice with content")
    images, note = square_resize(pictures, resolution)
    if note:
        notes.append(note)
    labels, classes = _encode_labels(picture_names)
    return _split_set(root.name, str(root), images, labels, classes, notes, root,
                      test_fraction=test_fraction, seed=seed)


# ---- the offline demo set -------------------------------------------------------------------

def demo_set(resolution: int) -> ImageSet:
    """The offline default: slices of nilearn's MNI152 T1 template (shipped with nilearn,
    read without a network), one class per anatomical plane; of each plane's slices with
    content, every fifth is a test slice. A demo set, not a clinical one."""
    from nilearn.datasets import load_mni152_template

    volume = to_uint8(np.asarray(load_mni152_template(resolution=1).get_fdata()))
    train_pictures, train_labels, test_pictures, test_labels = [], [], [], []
    for label, axis in enumerate((0, 1, 2)):  # x: sagittal, y: coronal, z: axial
        for i, image in enumerate(volume_slices(volume, axis, min_content=0.15)):
            if i % DEMO_TEST_EVERY == DEMO_TEST_EVERY - 1:
                test_pictures.append(image)
                test_labels.append(label)
            else:
                train_pictures.append(image)
                train_labels.append(label)
    train, note = square_resize(train_pictures, resolution)
    test, _ = square_resize(test_pictures, resolution)
    notes = [f"volume {volume.shape[0]}x{volume.shape[1]}x{volume.shape[2]} (1 mm) cut along "
             "its three axes; slices with under 15% brain left out",
             f"test split: every {DEMO_TEST_EVERY}th slice of each plane"]
    if note:
        notes.append(note)
    return ImageSet(name=DEMO_NAME, source="nilearn.datasets.load_mni152_template",
                    train_images=train, train_labels=np.array(train_labels, np.int64),
                    test_images=test, test_labels=np.array(test_labels, np.int64),
                    class_names=list(DEMO_PLANES), notes=notes, demo=True)


# ---- one entry point ------------------------------------------------------------------------

Reader = Callable[..., ImageSet]


def source_kind(path: Path) -> str:
    """Which reader a path needs: "npz", "volumes" (DICOM / NIfTI) or "images"."""
    path = Path(path)
    if not path.exists():
        raise ImageSourceError(path, "no such file or folder")
    name = path.name.lower()
    if path.is_file():
        if name.endswith(".npz"):
            return "npz"
        if name.endswith(NIFTI_SUFFIXES) or _is_dicom(path):
            return "volumes"
        raise ImageSourceError(path, "not an npz, DICOM or NIfTI file; give one of those or "
                               "a folder of images or volumes")
    files = [p for p in path.rglob("*") if p.is_file()]
    if not files:
        raise ImageSourceError(path, "the folder is empty")
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
        return "images"
    if any(p.name.lower().endswith(NIFTI_SUFFIXES) or _is_dicom(p) for p in files):
        return "volumes"
    raise ImageSourceError(path, "the folder holds no images (PNG, JPEG, BMP, TIFF), DICOM "
                           "or NIfTI files")


READERS: dict[str, Reader] = {"npz": read_npz, "images": read_image_folder,
                              "volumes": read_volumes}


def load_image_set(path: Path | str | None, resolution: int = 28, *,
                   labels_csv: Path | str | None = None, test_fraction: float = TEST_FRACTION,
                   seed: int = 0) -> ImageSet:
    """The image set at ``path`` (the demo set when None) at ``resolution``."""
    check_resolution(resolution)
    if path is None:
        if labels_csv is not None:
            raise ValueError("a labels CSV needs a data path")
        return demo_set(resolution)
    kind = source_kind(Path(path))
    if kind == "npz":
        if labels_csv is not None:
            raise ImageSourceError(Path(labels_csv), "an npz file carries its own labels")
        return read_npz(Path(path), resolution)
    return READERS[kind](Path(path), resolution,
                         labels_csv=Path(labels_csv) if labels_csv else None,
                         test_fraction=test_fraction, seed=seed)
