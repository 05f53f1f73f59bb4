"""The package's layering holds: the import-linter contracts in pyproject.toml, and DAG
files that import only Airflow's SDK and Nightjar's Airflow adapters at parse time."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PARSE_TIME_ALLOWED = ("__future__", "datetime", "airflow.sdk", "nightjar.airflow.")


def test_the_import_contracts_are_kept():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_dag_files_import_only_the_sdk_and_the_airflow_adapters_at_parse_time():
    found = []
    for path in sorted((ROOT / "dags").glob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only: parse time
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            found += [
                f"{path.name}: {module}"
                for module in modules
                if not (
                    module.startswith(PARSE_TIME_ALLOWED)
                    or module in ("airflow.sdk", "nightjar.airflow")
                )
            ]
    assert found == []


def test_every_module_of_the_package_imports():
    """A module no fast test imports (an Airflow-only step, a CLI-only command) still
    imports: a moved or renamed name fails here, not in a task process."""
    import importlib
    import pkgutil

    import nightjar

    failed = {}
    for module in pkgutil.walk_packages(nightjar.__path__, "nightjar."):
        try:
            importlib.import_module(module.name)
        except Exception as error:  # report every module that fails, not the first
            failed[module.name] = repr(error)
    assert failed == {}
