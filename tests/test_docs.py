"""The README and docs/: links that resolve, and commands that agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(path: Path) -> str:
    """The Markdown without its fenced code blocks (a ``#`` there is no heading)."""
    return _FENCE.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", prose(path), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(doc):
    for link in _LINK.findall(prose(doc)):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        assert path.exists(), f"{doc.name}: {link} names a missing file"
        if anchor:
            assert anchor in anchors(path), f"{doc.name}: {link} names a missing heading"


def test_docs_refer_to_no_document_outside_the_repository():
    for doc in DOCS:
        assert "design map" not in doc.read_text(), doc


def test_readme_and_wiki_docs_build_the_same_index_directory():
    def output_dirs(path: Path) -> set[str]:
        return set(re.findall(r"manycore wiki build \S+ -o (\S+?)`?$", path.read_text(), re.M))

    readme, wiki = output_dirs(REPO / "README.md"), output_dirs(REPO / "docs" / "wiki.md")
    assert readme and readme == wiki


def test_readme_activates_the_environment_before_its_first_bare_command():
    text = (REPO / "README.md").read_text()
    bare = re.search(r"(?<![/\w])manycore (serve|wiki|tefb)", text)
    assert bare is not None
    activate = text.find(". .venv/bin/activate")
    assert 0 <= activate < bare.start(), "commands use `manycore` before saying how to get it"
