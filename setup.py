"""Build the HTTP hot path and the wiki's title search as C extensions with Cython, or install
them as pure Python.

The ``.py`` modules are the source of truth: Cython compiles them as they are (plain,
typed Python), and an installed extension module is imported in place of its ``.py``
twin.  Without Cython or a C compiler, or with ``MANYCORE_PURE=1`` in the environment,
nothing is compiled and the package runs as pure Python; a failed compile is reported
and falls back the same way instead of failing the install.  An editable install stays
pure unless ``MANYCORE_COMPILE=1``, so that what runs is the source being edited.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The modules whose work is computation rather than attribute traffic: building heads,
# rendering responses, routing, reading header fields.  Compiled, they are 15-20 % faster
# on a routed request, and _response.pxd makes Response an extension type, which a handler
# creates three times faster.  The connection, the parser glue, the request and the flow and
# timeout mixins are not compiled, because Cython's generic attribute access on ordinary
# classes is slower than CPython's specialising interpreter there (measured: the cached fast
# path lost 20-25 %; bench/README.md, "The compiled build").  _build.py lists the same modules.
COMPILED = [
    "src/manycore/http/_head_builder.py",
    "src/manycore/http/_heads.py",
    "src/manycore/http/_response.py",
    "src/manycore/http/_routing.py",
    # The wiki's title search: per query, a few dozen short strings made and compared,
    # which typed (str slicing, indexing and ord in C) take half the time.
    "src/manycore/apps/wiki/titleblocks.py",
    # A search's result rows: indexing the mapped arrays, typed by hitrows.pxd.
    "src/manycore/apps/wiki/hitrows.py",
    # A search's titles compared and made from the blob's bytes in place, typed by titlescan.pxd.
    "src/manycore/apps/wiki/titlescan.py",
]


def _say(message: str) -> None:
    print(f"manycore build: {message}", file=sys.stderr)


def _extensions() -> list[object]:
    if os.environ.get("MANYCORE_PURE", "") not in ("", "0"):
        _say("MANYCORE_PURE is set: installing the pure-Python hot path")
        return []
    if "editable_wheel" in sys.argv and os.environ.get("MANYCORE_COMPILE", "") in ("", "0"):
        # An editable install runs the source being edited; compiled twins beside it would
        # shadow every edit.  `python setup.py build_ext --inplace` compiles on purpose.
        _say("editable install: the pure-Python hot path (MANYCORE_COMPILE=1 compiles it)")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not available: installing the pure-Python hot path")
        return []
    try:
        return list(
            cythonize(
                COMPILED,
                build_dir="build/cython",  # the generated C stays out of src/ and the wheel
                # Annotations stay hints, as in Python: Cython would otherwise enforce
                # exact argument types, turning the package's own error messages into
                # a TypeError of its own.
                compiler_directives={
                    "language_level": 3,
                    "binding": True,
                    "annotation_typing": False,
                },
                quiet=True,
            )
        )
    except Exception as exc:  # a Cython that cannot translate the source: stay pure
        _say(f"Cython failed ({exc}): installing the pure-Python hot path")
        return []


class OptionalBuildExt(build_ext):
    """Compile what can be compiled; a missing or failing C compiler leaves pure Python."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            _say(f"no C extensions built ({exc}): the pure-Python hot path is used")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _say(f"{ext.name} not compiled ({exc}): its pure-Python module is used")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
