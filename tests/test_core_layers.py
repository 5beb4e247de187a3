"""The core's modules import only downward, in the order docs/architecture.md gives."""

from __future__ import annotations

import ast
from pathlib import Path

import manycore

SRC = Path(manycore.__file__).parent

# Bottom up; modules on one layer may import each other as long as no cycle forms.
LAYERS = [
    ("context", "loop"),
    ("shared",),
    ("stats",),
    ("transport",),
    ("protocol",),
    ("registry",),
    ("work", "aio", "channel"),
    ("engine",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _core_files() -> list[Path]:
    files = [SRC / f"{name}.py" for names in LAYERS for name in names if name != "engine"]
    return files + sorted((SRC / "engine").glob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every manycore module ``path`` imports, TYPE_CHECKING and function-level included."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("manycore."):
                target = node.module.removeprefix("manycore.")
            else:
                continue
            if node.module is None or target in ("", "engine"):
                found.update(f"{target}.{a.name}".strip(".") for a in node.names)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("manycore.")
                for a in node.names
                if a.name.startswith("manycore.")
            )
    return {
        name
        for name in found
        if (SRC / f"{name.replace('.', '/')}.py").exists()
        or (SRC / name.replace(".", "/") / "__init__.py").exists()
    }


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in _core_files()}


def _layer(module: str) -> int | None:
    return RANK.get(module.split(".")[0])


def test_the_core_imports_only_its_own_layer_or_below():
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (_layer(target) is None or _layer(target) > _layer(module))  # type: ignore[operator]
    ]
    assert upward == []


def test_the_core_has_no_import_cycle():
    graph = _graph()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target in graph:
                visit(target, [*path, target])

    for module in graph:
        visit(module, [module])
    assert cycles == []
