"""manycore wiki: instant search over every Wikipedia title, pages served from the dump.

``build_index`` scans a MediaWiki export into an index directory; ``WikiIndex``
opens one (memory-mapped); ``WikiApp`` (in ``app``, imported lazily because it
needs the HTTP layer) serves it.  The command line is ``manycore wiki``.
"""

from __future__ import annotations

from . import _gil  # noqa: F401  (first: before anything here imports mwparserfromhell)
from .build import BuildResult, build_index
from .errors import DumpError, IndexFormatError, WikiError
from .index import Hit, WikiIndex

__all__ = [
    "BuildResult",
    "DumpError",
    "Hit",
    "IndexFormatError",
    "WikiError",
    "WikiIndex",
    "build_index",
]
