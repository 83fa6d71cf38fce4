"""Errors of the imaging package."""

from __future__ import annotations

from pathlib import Path

from training.errors import MedgenError


class ImagingError(MedgenError):
    """Base for imaging errors."""


class ImageSourceError(ImagingError, ValueError):
    """An image source (npz, PNG folder, DICOM, NIfTI, labels CSV) that cannot be read as
    asked. ``path`` names the file or folder at fault; the message starts with it."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MetricError(ImagingError, ValueError):
    """A metric asked for on sets it cannot be computed on (too few images, no features)."""
