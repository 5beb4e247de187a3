"""Command-line pieces the benchmark runners share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def comma_separated(choices: list[str], what: str) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names from ``choices``."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"choose from: {','.join(choices)}"
            )
        return names

    return parse
