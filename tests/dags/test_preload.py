"""``airflow/preload.py`` covers everything a billing task would otherwise import for itself.

Our modules import the heavy libraries inside functions, so that parsing a DAG file stays light;
a task process forked from an executor worker that imported ``preload`` must find every one of
those already imported. The test reads each function-level import with ``ast`` and imports it
after ``preload`` in a fresh interpreter: any module that then loads is one every task pays for.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.conftest import PROJECT

PACKAGE = PROJECT / "include" / "dms_billing"
# Never in a task: the demo generator (make demo), and the billing page, which the api-server serves.
NOT_IN_TASKS = ("demo", "views", "airflow/billing_ui.py", "airflow/billing_runs.py")


def _function_level_imports() -> set[str]:
    """Modules imported inside a function body anywhere in the package's task code."""
    found: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE)
        if where.parts[0] in NOT_IN_TASKS or where.as_posix() in NOT_IN_TASKS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
    return found


PROBE = """
import importlib, json, sys
import include.dms_billing.airflow.preload
before = set(sys.modules)
left = {}
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    new = sorted(set(sys.modules) - before)
    if new:
        left[name] = new[:5]
    before = set(sys.modules)
print(json.dumps(left))
"""


def test_the_function_level_imports_are_found() -> None:
    imports = _function_level_imports()
    assert {"great_expectations", "weasyprint", "pyarrow.parquet"} <= imports, sorted(imports)


def test_nothing_a_task_imports_is_left_out_of_the_preload() -> None:
    imports = sorted(_function_level_imports())
    probe = subprocess.run([sys.executable, "-c", PROBE, json.dumps(imports)], cwd=PROJECT,
                           capture_output=True, text=True, check=True, timeout=300)
    left = json.loads(probe.stdout.strip().splitlines()[-1])
    assert left == {}, f"imported by tasks but not by include/dms_billing/airflow/preload.py: {left}"
