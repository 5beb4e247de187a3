"""Importing this puts examples/ on sys.path (for in-process tests of example classes)."""

import sys

from conftest import EXAMPLES

sys.path.insert(0, str(EXAMPLES))
