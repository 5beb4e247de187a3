"""The wiki application's errors, split by whose fault they are.

``DumpError``: the input file is not something we can index (not a MediaWiki
export, wrong encoding, no complete page).  ``IndexFormatError``: an index
directory is missing, half written, from another format version, or its dump
has changed.  Both carry one-line messages that name the file and the fix;
the command line prints them as they are.
"""

from __future__ import annotations

from manycore.context import ManycoreError

__all__ = ["DumpError", "IndexFormatError", "WikiError"]


class WikiError(ManycoreError):
    """Base class of the wiki application's errors."""


class DumpError(WikiError, ValueError):
    """The dump cannot be indexed."""


class IndexFormatError(WikiError):
    """The index directory cannot be served."""
