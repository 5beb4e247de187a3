"""Opening an index's full text with the engine it was built with.

Apart from ``fulltext`` because each engine's module builds on ``fulltext``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from . import fulltext
from .fulltext import FullText

__all__ = ["Unavailable", "open_fulltext"]


class Unavailable(NamedTuple):
    """Why an index's full text cannot be searched here (said in /fulltext's 404)."""

    reason: str


def open_fulltext(directory: Path, figures: dict[str, Any] | None) -> FullText | Unavailable:
    """The index's full text, opened lazily per worker by its engine's module."""
    if not figures:
        return Unavailable(
            "this index has no full-text search; rebuild it with: "
            f"manycore wiki build DUMP --fulltext -o {directory}"
        )
    engine = figures.get("engine", "sqlite")
    if engine == "tantivy":
        if not fulltext.importable("tantivy"):
            return Unavailable(
                "this index's full text was built with tantivy, which this Python cannot "
                "load (free-threaded builds cannot; elsewhere: pip install tantivy); or rebuild "
                "it with: manycore wiki build DUMP --fulltext --fulltext-engine sqlite "
                f"-o {directory}"
            )
        from .fulltext_tantivy import TantivyFullText

        return TantivyFullText(directory)
    from .fulltext_sqlite import SqliteFullText

    return SqliteFullText(directory)
