"""The delivery channels: each module registers one `Channel` class by name."""

from __future__ import annotations

import importlib
import pkgutil


def load_channels() -> None:
    """Import every module of this package, so that each channel registers itself: the one list
    of channels is what is in this folder, and nothing else names them."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
