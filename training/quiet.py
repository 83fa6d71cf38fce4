"""Lightning, quietly: for jobs that print their own progress lines (the main job, the CLI's
training commands when piped) and would otherwise interleave Lightning's banners."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's informational banners (accelerators, tips, time limits) and its known
    warnings about in-memory data and the pytree API go unsaid within the block."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric",
                                                     "lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # tensors in memory: worker processes would only add start-up time
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
            warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
            # Lightning 2.6 on torch 2.10+ warns of its own use of torch's pytree API
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
            warnings.filterwarnings("ignore", message=".*has no `val_dataloader`.*")
            # Lightning reloading its own checkpoint (the best one, after training)
            warnings.filterwarnings("ignore", message=".*`weights_only` was not set.*")
            warnings.filterwarnings("ignore", message=".*defined a `validation_step` but.*")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
