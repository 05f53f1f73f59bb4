"""The package works installed from its wheel, not only from a checkout: the CLI finds the
example dataset config that ships inside the package."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_the_installed_wheel_runs_a_command_that_needs_the_default_config(tmp_path):
    """About 20 s: builds the wheel and installs it into a fresh venv (its dependencies
    come from this environment, without the checkout's editable nightjar)."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(wheels.glob("nightjar-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }

    def installed(program: str, *args: str) -> subprocess.CompletedProcess:
        """``program`` of the fresh venv, from a folder outside the checkout."""
        return subprocess.run(
            [str(venv / "bin" / program), *args],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    where = installed("python", "-c", "import nightjar; print(nightjar.__file__)")
    assert str(site) in where.stdout, where.stdout + where.stderr  # the wheel's copy
    rendered = installed(
        "python",
        "-c",
        "from nightjar.core.templates import render; "
        "print(render('nightjar.promotion', 'model_card.html.j2', name='m', version='1', "
        "markdown='card'))",
    )
    assert "<pre" in rendered.stdout, rendered.stderr  # the templates ship as package data
    done = installed("nightjar", "features", "describe")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dataset credit_default" in done.stdout

    # The production image drops the embedded stack (see the Dockerfile): the CLI still
    # lists its commands, and a command that needs no embedded stack still works.
    shutil.rmtree(site / "nightjar" / "embedded")
    for command in (["--help"], ["features", "describe"], ["gate", "explain"]):
        done = installed("nightjar", *command)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
