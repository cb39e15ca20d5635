"""The package's layers (docs/architecture.md), read from the source with ``ast``, nothing imported.

- Airflow is imported only in ``include/dms_billing/airflow/``: at module level or inside a
  function, an ``import airflow…`` / ``from airflow… import`` anywhere else fails.
- Each package imports only the packages below it: core <- outputs <- {source, ledger, mail}
  <- flows <- airflow; views (the billing page, read-only) imports core, outputs and ledger, and
  only airflow imports it; demo imports core and source. No upward import, no cycle.
- No module is over about 300 lines.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.conftest import PROJECT

ROOT = "include.dms_billing"
PACKAGE = PROJECT / "include" / "dms_billing"

# What each package may import besides itself (docs/architecture.md, "Layers").
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "outputs": frozenset({"core"}),
    "source": frozenset({"core", "outputs"}),
    "ledger": frozenset({"core", "outputs"}),
    "mail": frozenset({"core", "outputs"}),
    "flows": frozenset({"core", "outputs", "source", "ledger", "mail"}),
    "views": frozenset({"core", "outputs", "ledger"}),
    "airflow": frozenset({"core", "outputs", "source", "ledger", "mail", "flows", "views"}),
    "demo": frozenset({"core", "source"}),
}
AIRFLOW_PACKAGE = "airflow"  # include/dms_billing/airflow/: the only one that imports Airflow

MAX_LINES = 300


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _imports(path: Path) -> tuple[tuple[str, int], ...]:
    """Every module ``path`` imports, at any depth (module level, functions, branches), with the
    line: ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a
    module); relative imports are made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return tuple(found)


def _package_of(module: str) -> str | None:
    """``core`` for ``include.dms_billing.core.rule``; None outside the package or for its root."""
    if not module.startswith(ROOT + "."):
        return None
    return module[len(ROOT) + 1:].split(".")[0]


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(PROJECT)}:{line}"


def test_airflow_is_imported_only_in_the_airflow_package() -> None:
    outside = [p for p in _modules() if p.relative_to(PACKAGE).parts[0] != AIRFLOW_PACKAGE]
    assert outside, "no modules found"
    found = {f"{_where(p, line)} imports {module}" for p in outside for module, line in _imports(p)
             if module == "airflow" or module.startswith("airflow.")}
    assert not found, "Airflow imported outside include/dms_billing/airflow/:\n" + "\n".join(sorted(found))


def test_every_package_has_its_layer() -> None:
    packages = {p.relative_to(PACKAGE).parts[0] for p in _modules() if len(p.relative_to(PACKAGE).parts) > 1}
    assert packages == set(MAY_IMPORT), "a package without a layer, or a layer without a package"


def test_each_package_imports_only_the_layers_below_it() -> None:
    found: dict[str, str] = {}
    for path in _modules():
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue  # include/dms_billing/__init__.py
        package = parts[0]
        for module, line in _imports(path):
            target = _package_of(module)
            if target is not None and target != package and target not in MAY_IMPORT[package]:
                found.setdefault(_where(path, line), f"{package} imports {module}")
    assert not found, "imports against the layers:\n" + "\n".join(f"{k}: {v}" for k, v in sorted(found.items()))


def test_the_package_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {package: set() for package in MAY_IMPORT}
    for path in _modules():
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue
        for module, _ in _imports(path):
            target = _package_of(module)
            if target is not None and target != parts[0]:
                graph.setdefault(parts[0], set()).add(target)
    for layers in (graph, {package: set(allowed) for package, allowed in MAY_IMPORT.items()}):
        done: set[str] = set()

        def visit(package: str, trail: tuple[str, ...], layers: dict[str, set[str]] = layers) -> None:
            assert package not in trail, "import cycle: " + " -> ".join((*trail, package))
            if package in done:
                return
            for target in sorted(layers.get(package, ())):
                visit(target, (*trail, package))
            done.add(package)

        for package in sorted(layers):
            visit(package, ())


def test_no_module_is_over_300_lines() -> None:
    found = []
    for path in _modules():
        relative = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{relative}: {lines} lines")
    assert not found, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(found)
