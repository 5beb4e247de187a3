"""Which build of the HTTP layer this process runs: partly compiled by Cython, or pure Python.

``setup.py`` compiles the hot path's modules when it can, and Python imports a compiled
module in place of its ``.py`` source; so the answer is where those modules were loaded
from, which is what an operator needs to know when comparing servers.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

from . import _head_builder, _heads, _response, _routing

__all__ = ["COMPILED_MODULES", "hot_path_build"]

# What setup.py compiles (its COMPILED list says why these and not the others).
COMPILED_MODULES: tuple[ModuleType, ...] = (_head_builder, _heads, _response, _routing)


def _is_compiled(module: ModuleType) -> bool:
    return (module.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))


def hot_path_build() -> str:
    """``"compiled (Cython)"``, ``"pure Python"``, or which modules are compiled."""
    compiled = [m.__name__.rpartition(".")[2] for m in COMPILED_MODULES if _is_compiled(m)]
    if not compiled:
        return "pure Python"
    if len(compiled) == len(COMPILED_MODULES):
        return "compiled (Cython)"
    return f"partly compiled (Cython: {', '.join(compiled)})"
