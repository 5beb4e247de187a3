"""A real sample export shipped with the package (see README.md here for its source and licence).

It lives in the package, not beside the tests, so that the demo and the tests of
an installed copy or a fresh clone read the same pages.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_DUMP", "SAMPLE_NOTICE"]

SAMPLE_DUMP = Path(__file__).with_name("enwiki-sample.xml.bz2")
SAMPLE_NOTICE = Path(__file__).with_name("README.md")
