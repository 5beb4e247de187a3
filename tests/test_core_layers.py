"""Every module of manycore imports only downward, in the order docs/architecture.md gives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import manycore

SRC = Path(manycore.__file__).parent
ARCHITECTURE = SRC.parents[1] / "docs" / "architecture.md"

# Bottom up, by the first name under ``manycore`` (``manycore`` itself is the public API that
# re-exports the core).  Modules on one layer may import each other as long as no cycle forms.
LAYERS = [
    ("_version", "loop"),
    ("context",),
    ("shared",),
    ("stats",),
    ("transport",),
    ("protocol",),
    ("registry",),
    ("work", "aio", "channel"),
    ("engine",),
    ("manycore",),
    ("http",),
    ("asgi",),
    ("apps",),
    ("testing",),
    ("commands", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = ("manycore", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (SRC / relative).with_suffix(".py").is_file() or (
        SRC / relative / "__init__.py"
    ).is_file()


def _imports(path: Path) -> set[str]:
    """Every manycore module ``path`` imports, TYPE_CHECKING and function-level included."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            elif node.module == "manycore" or (node.module or "").startswith("manycore."):
                target = node.module  # type: ignore[assignment]
            else:
                continue
            for alias in node.names:  # ``from package import submodule`` imports the submodule
                submodule = f"{target}.{alias.name}"
                found.add(submodule if _is_module(submodule) else target)
        elif isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name == "manycore" or a.name.startswith("manycore.")
            )
    return {name for name in found if _is_module(name)}


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(SRC.rglob("*.py"))}


def _layer(module: str) -> int:
    parts = module.split(".")
    return RANK[parts[1] if len(parts) > 1 else parts[0]]


def test_every_module_has_a_layer():
    unplaced = [m for m in _graph() if m != "manycore" and m.split(".")[1] not in RANK]
    assert unplaced == []


def test_every_module_imports_only_its_own_layer_or_below():
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_module_takes_part_in_an_import_cycle():
    graph = _graph()
    cycles = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycle = path[path.index(target) :]
                start = cycle.index(min(cycle))
                cycles.add(" -> ".join([*cycle[start:], *cycle[:start], min(cycle)]))
            else:
                visit(target, [*path, target])

    for module in graph:
        visit(module, [module])
    assert not cycles, "\n".join(sorted(cycles))


def test_the_architecture_table_lists_the_layers_in_this_order():
    """docs/architecture.md's table, bottom up, names each layer's modules as LAYERS does."""
    rows = re.findall(r"^\| [^|]+ \| (.+?) \| .+ \|$", ARCHITECTURE.read_text(), re.MULTILINE)
    documented = [
        tuple(
            dict.fromkeys(
                "manycore" if path == "__init__.py" else path.split("/")[0].removesuffix(".py")
                for path in re.findall(r"`([^`]+)`", row)
            )
        )
        for row in rows[1:]
    ]
    assert documented == LAYERS


def _private_names_from_other_packages(path: Path) -> list[str]:
    """``_name``s ``path`` imports from a manycore module outside its own package."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join([*base, *([node.module] if node.module else [])])
        elif (node.module or "").startswith("manycore"):
            source = node.module or ""
        else:
            continue
        source_package = (
            source
            if (SRC.parent / source.replace(".", "/")).is_dir()
            else (source.rsplit(".", 1)[0])
        )
        if source_package == package or source.startswith(package + "."):
            continue  # a package's own private modules and names are its business
        found += [
            f"{source}.{a.name}"
            for a in node.names
            if a.name.startswith("_") and not (a.name.startswith("__") and a.name.endswith("__"))
        ]
    return found


def test_no_module_imports_a_private_name_of_another_package():
    offenders = {
        _module_name(path): names
        for path in sorted(SRC.rglob("*.py"))
        if (names := _private_names_from_other_packages(path))
    }
    assert offenders == {}
