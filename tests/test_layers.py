"""The README's "code, by layer" table is true: a module imports only its own package or packages
below it (function-local imports included), and `contracts/` only pydantic and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import repurpose

PACKAGE = Path(repurpose.__file__).parent
# Top to bottom, as in the README; the top-level modules (errors, settings, ...) sit below them all.
LAYERS = [
    "cli",
    "cluster",
    "gateway",
    "client",
    "services",
    "actors",
    "screening",
    "scoring",
    "monitoring",
    "training",
    "evaluation",
    "grains",
    "store",
    "model",
    "data",
    "runtime",
    "contracts",
]
CONTRACTS_MAY_IMPORT = {"pydantic", "repurpose"}


def layer_of(module: str) -> str | None:
    """The layer of ``repurpose.<part>...``; None for the top-level modules below every layer."""
    part = module.split(".")[1] if module.count(".") else ""
    return part if part in LAYERS else None


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def modules() -> list[tuple[str, Path]]:
    return [
        ("repurpose." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts), path)
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for module, path in modules():
        source = layer_of(module)
        if source is None:
            continue
        for imported in imports(path):
            target = layer_of(imported) if imported.startswith("repurpose.") else None
            if target is not None and LAYERS.index(target) < LAYERS.index(source):
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_contracts_is_the_leaf() -> None:
    outside = []
    for module, path in modules():
        if layer_of(module) != "contracts":
            continue
        for imported in imports(path):
            top = imported.split(".")[0]
            if (top not in sys.stdlib_module_names and top not in CONTRACTS_MAY_IMPORT and top != "__future__") or (
                imported.startswith("repurpose.") and layer_of(imported) not in (None, "contracts")
            ):
                outside.append(f"{module} -> {imported}")
    assert outside == []


def test_the_layers_are_the_readme_s_table() -> None:
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    table = readme[readme.index("| package | holds |") :].split("\n\n")[0]
    cells = [line.split("|")[1] for line in table.splitlines()[2:]]
    names = [name.strip().strip("`").rstrip("/").removesuffix(".py") for cell in cells for name in cell.split(",")]
    assert names == LAYERS
