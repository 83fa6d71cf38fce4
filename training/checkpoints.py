"""Loading a module back from its checkpoint, safely: as plain data (``weights_only``), so
a file whose pickle would import or call anything is refused unread, and any file that is
not what it claims (truncated, another model's, not a checkpoint) is one clear error."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TypeVar

import lightning as L

from training.engine_errors import TrainingError

M = TypeVar("M", bound=L.LightningModule)


def load_module(cls: type[M], path: Path, what: str) -> M:
    """``cls`` rebuilt from the checkpoint at ``path`` on the CPU; ``what`` names the kind
    of file expected in the error (e.g. "molecule VAE checkpoint")."""
    from training.quiet import quiet_lightning

    try:
        with quiet_lightning(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a foreign pickle's protocol
            return cls.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise TrainingError(f"{path}: refused: the file holds Python objects other than a "
                            "checkpoint's plain data (loading it could run code)") from e
    except (RuntimeError, KeyError, ValueError, TypeError, EOFError, AttributeError,
            IndexError, OSError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise TrainingError(f"{path}: not a {what} ({type(e).__name__}: {first})") from e
