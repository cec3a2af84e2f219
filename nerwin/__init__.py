"""nerwin: named-entity recognition for English on a neural stack written from scratch.

    >>> import nerwin
    >>> tagger = nerwin.load()                  # the model shipped with the package
    >>> tagger("Samuel Quinn was arrested in Paris .")

Heavy modules (numba, datasets) load on first use, so `import nerwin` and `nerwin --help` stay fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load": "nerwin.tagger",
    "Tagger": "nerwin.tagger",
    "Entity": "nerwin.tagger",
    "train": "nerwin.training",
    "TrainConfig": "nerwin.train_config",
    "evaluate": "nerwin.evaluation",
    "NerwinError": "nerwin.errors",
}
_SUBMODULES = {  # the neural stack's layers and optimizers, as `from nerwin import nn, optim`
    "nn": "nerwin.autodiff.nn",
    "optim": "nerwin.autodiff.optim",
}

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'nerwin' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
