"""The build: the HTTP layer compiles where it can and installs as pure Python where it cannot.

Each test builds a copy of the checkout in place, as ``scripts/test`` does, and looks at
what was made; a build that cannot compile must still succeed, with pure-Python modules.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from manycore.testing import repo_root

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    # scripts/test builds and runs the compiled modules on the stock interpreter only.
    pytest.mark.skipif(
        not getattr(sys, "_is_gil_enabled", lambda: True)(),
        reason="the compiled build is made for the GIL build of CPython",
    ),
]

COMPILED = ("_head_builder", "_heads", "_response", "_routing")


def _checkout(tmp_path: Path) -> Path:
    root = repo_root()
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(root / name, copy / name)
    shutil.copytree(
        root / "src",
        copy / "src",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info"),
    )
    return copy


def _build(copy: Path, **env: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("Cython")
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=540,
    )


def _compiled(copy: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in (copy / "src/manycore/http").glob("*.so"))


def test_without_a_c_compiler_the_build_succeeds_with_pure_python(tmp_path):
    copy = _checkout(tmp_path)
    result = _build(copy, CC="/bin/false", LDSHARED="/bin/false")
    assert result.returncode == 0, result.stderr
    assert _compiled(copy) == []
    assert "its pure-Python module is used" in result.stderr


def test_manycore_pure_compiles_nothing_even_with_a_compiler(tmp_path):
    copy = _checkout(tmp_path)
    result = _build(copy, MANYCORE_PURE="1")
    assert result.returncode == 0, result.stderr
    assert _compiled(copy) == []
    assert "MANYCORE_PURE is set" in result.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_with_a_c_compiler_the_four_modules_are_compiled_and_reported(tmp_path):
    copy = _checkout(tmp_path)
    result = _build(copy)
    assert result.returncode == 0, result.stderr
    assert _compiled(copy) == list(COMPILED)
    version = subprocess.run(
        [sys.executable, "-c", "from manycore.http._build import hot_path_build as b; print(b())"],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip() == "compiled (Cython)", version.stderr
