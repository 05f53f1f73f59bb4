"""LightGBM forests compiled to machine code with lleaves, and the check that lets one score.

``Booster.predict`` walks every tree node by node through LightGBM's generic code; lleaves
compiles the whole forest with LLVM into one native function, which predicted 7x faster
on this project's models. Three things make it safe to use in a nightly run:

- **A budget.** Compile time grows badly with forest size (hours have been reported for
  600 trees of 450 leaves), and an LLVM compile cannot be interrupted from Python. So it
  runs in a child process that is killed when the budget runs out, and writes its object
  file under a temporary name, renamed only when complete.
- **A key.** The object code is built for this CPU (its instruction set extensions), by
  one lleaves and llvmlite. ``machine_target`` and ``compiler_version`` name both; an
  artifact is loaded only where they match.
- **An equality check.** Compiled and interpreted predictions agree to floating-point
  tolerance only (LLVM may reorder the sum over trees). ``check_agreement`` compares them
  on rows the caller chooses (the version's holdout) against an absolute tolerance and the
  decision threshold.

Run as ``python -m nightjar.training.compiled_forest MODEL_TXT OBJECT_FILE`` it is that
child process.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

TOLERANCE = 1e-12  # absolute, in float64


def compiler_version() -> str:
    """The compiler an artifact was built with: lleaves and the LLVM binding under it."""
    return f"lleaves-{version('lleaves')}-llvmlite-{version('llvmlite')}"


@functools.cache
def machine_target() -> str:
    """The CPU an artifact was built for: architecture, LLVM's name for the CPU, and a
    digest of the instruction set extensions LLVM detected (the object code may use any
    of them)."""
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM could not detect them; lleaves then compiles without
        features = ""
    digest = hashlib.sha256(features.encode()).hexdigest()[:8]
    return f"{platform.machine()}-{llvm.get_host_cpu_name()}-{digest}"


@dataclass(frozen=True)
class CompileOutcome:
    """What one compile produced: the object code, or the reason there is none."""

    object_code: bytes | None
    seconds: float
    reason: str = ""


def compile_forest(model_text: str, *, budget_seconds: float) -> CompileOutcome:
    """Compile ``model_text`` in a child process within ``budget_seconds``."""
    with tempfile.TemporaryDirectory(prefix="nightjar-compile-") as tmp:
        model_file, object_file = Path(tmp) / "model.txt", Path(tmp) / "forest.o"
        model_file.write_text(model_text)
        command = [sys.executable, "-m", __name__, str(model_file), str(object_file)]
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=budget_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            return CompileOutcome(
                None,
                time.monotonic() - started,
                f"did not finish within the {budget_seconds:g} s compile budget",
            )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            return CompileOutcome(
                None, seconds, f"compiler exited {done.returncode}: {lines[-1] if lines else ''}"
            )
        return CompileOutcome(object_file.read_bytes(), seconds)


@dataclass(frozen=True)
class Agreement:
    """How compiled predictions compare with the Booster's on the same rows."""

    rows: int
    max_abs_diff: float
    decisions_changed: int

    @property
    def passed(self) -> bool:
        return self.rows > 0 and self.max_abs_diff <= TOLERANCE and self.decisions_changed == 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows, max |compiled - Booster| {self.max_abs_diff:.3g} "
            f"(tolerance {TOLERANCE:g}), {self.decisions_changed} decisions changed"
        )


def check_agreement(
    compiled: np.ndarray, interpreted: np.ndarray, *, threshold: float
) -> Agreement:
    """Compare two prediction vectors of the same rows: their largest absolute difference
    (NaN on either side counts as infinite) and the rows whose decision at ``threshold``
    differs."""
    if compiled.shape != interpreted.shape:
        return Agreement(len(interpreted), float("inf"), len(interpreted))
    difference = np.abs(compiled - interpreted)
    max_abs_diff = float(np.nan_to_num(difference, nan=np.inf).max()) if len(difference) else 0.0
    changed = int(np.count_nonzero((compiled >= threshold) != (interpreted >= threshold)))
    return Agreement(len(interpreted), max_abs_diff, changed)


class CompiledForest:
    """A compiled forest loaded into this process, ready to predict."""

    def __init__(self, model_text: str, object_code: bytes) -> None:
        import lleaves

        with tempfile.TemporaryDirectory(prefix="nightjar-forest-") as tmp:
            model_file, object_file = Path(tmp) / "model.txt", Path(tmp) / "forest.o"
            model_file.write_text(model_text)
            object_file.write_bytes(object_code)
            self._model = lleaves.Model(model_file=str(model_file))
            # With an existing cache file, lleaves loads the object code instead of compiling
            # (it reads the file while linking, inside compile()).
            self._model.compile(cache=str(object_file))

    def predict(self, matrix: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """Probabilities for the rows of ``matrix`` (float64, features in model order)."""
        return self._model.predict(matrix, n_jobs=threads or os.cpu_count() or 1)


def _compile_to(model_file: str, object_file: str) -> None:
    """The child process: compile, write the object file under a temporary name, rename."""
    import lleaves

    partial = f"{object_file}.partial"
    lleaves.Model(model_file=model_file).compile(cache=partial)
    os.replace(partial, object_file)


if __name__ == "__main__":
    _compile_to(*sys.argv[1:3])
