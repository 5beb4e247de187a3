"""Which build of the title search this process runs: compiled by Cython, or pure Python.

``setup.py`` compiles ``titleblocks`` when it can (its COMPILED list), and Python imports
the compiled module in place of its ``.py`` source; ``/stats`` reports which one answers,
since search figures are only comparable between the same builds.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

from . import hitrows, titleblocks, titlescan

__all__ = ["COMPILED_MODULES", "title_search_build"]

# What setup.py compiles of the wiki.
COMPILED_MODULES: tuple[ModuleType, ...] = (hitrows, titleblocks, titlescan)


def title_search_build() -> str:
    """``"compiled (Cython)"`` or ``"pure Python"``."""
    compiled = all((m.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES)) for m in COMPILED_MODULES)
    return "compiled (Cython)" if compiled else "pure Python"
