"""Keep the GIL disabled on free-threaded CPython when the wiki parses wikitext.

mwparserfromhell's C tokenizer does not declare that it runs without the GIL, so
importing it would turn the GIL back on for the whole process and every worker
thread would take turns.  On free-threaded builds this package blocks that one
module before anything imports mwparserfromhell, which then uses its
pure-Python tokenizer: the same trees, parsed in Python.
"""

from __future__ import annotations

import sys
import sysconfig

__all__: list[str] = []

if sysconfig.get_config_var("Py_GIL_DISABLED") and "mwparserfromhell" not in sys.modules:
    # None in sys.modules makes importing that name fail, as the import system documents;
    # typeshed types the values of sys.modules as modules only.
    sys.modules.setdefault("mwparserfromhell.parser._tokenizer", None)  # type: ignore[arg-type]
