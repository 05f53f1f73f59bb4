"""One error hierarchy: every error Nightjar raises on purpose is a NightjarError, defined
in ``nightjar.core.errors``, which the CLI prints as one line and the task glue fails without
retries (unless the class says a retry can help)."""

import ast
import inspect
from pathlib import Path

from click.testing import CliRunner

from nightjar.cli.main import main
from nightjar.core import errors

PACKAGE = Path(errors.__file__).parent
EMBEDDED_ONLY = {"lakefs_standin"}  # the stand-in server speaks lakeFS's own errors


def test_every_error_class_lives_in_errors_under_one_base():
    defined_elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" or EMBEDDED_ONLY & set(path.relative_to(PACKAGE).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                defined_elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert defined_elsewhere == []
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if cls.__module__ == errors.__name__:
            assert issubclass(cls, errors.NightjarError), cls


def test_the_cli_prints_a_nightjar_error_as_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTJAR_DATASET_CONFIG", str(tmp_path / "missing.yaml"))
    result = CliRunner().invoke(main, ["features", "describe"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: dataset config not found: {tmp_path / 'missing.yaml'}"
