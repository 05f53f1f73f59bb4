"""lleaves compiles a real LightGBM forest (numeric and categorical splits, missing values)
within a budget, in a child process, and the agreement check tells a faithful artifact
from one that is not. About 10 s: two compiles."""

import numpy as np
import pytest

from nightjar.training.compiled_forest import (
    TOLERANCE,
    CompiledForest,
    check_agreement,
    compile_forest,
    compiler_version,
    machine_target,
)


@pytest.fixture(scope="module")
def forest():
    """A 60-tree binary model with a categorical feature and missing values, the rows it
    will be checked on, and its compiled object code."""
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    rows = 5_000
    matrix = np.column_stack(
        [rng.normal(size=rows), rng.integers(0, 8, rows).astype(float), rng.normal(size=rows)]
    )
    matrix[rng.random(rows) < 0.05, 0] = np.nan
    matrix[rng.random(rows) < 0.05, 1] = np.nan
    label = (np.nan_to_num(matrix[:, 0]) + (matrix[:, 1] % 3 == 0) + rng.normal(size=rows)) > 0.5
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(matrix, label.astype(int), categorical_feature=[1]),
        num_boost_round=60,
    )
    text = booster.model_to_string()
    outcome = compile_forest(text, budget_seconds=120)
    assert outcome.object_code, outcome.reason
    return text, booster, matrix, outcome.object_code


def test_a_compiled_forest_agrees_with_the_booster(forest):
    text, booster, matrix, object_code = forest
    compiled = CompiledForest(text, object_code)
    for threads in (1, 2):
        agreement = check_agreement(
            compiled.predict(matrix, threads=threads), booster.predict(matrix), threshold=0.5
        )
        assert agreement.passed, agreement.summary()
        assert agreement.max_abs_diff <= TOLERANCE


def test_the_check_refuses_a_forest_that_differs(forest):
    """A forest compiled from a model one leaf value away: its object code loads against
    the original model and predicts, but the check refuses it."""
    text, booster, matrix, _ = forest
    leaf = text.index("leaf_value=") + len("leaf_value=")
    first_value = text[leaf:].split(" ", 1)[0]
    altered = text[:leaf] + repr(float(first_value) + 0.25) + text[leaf + len(first_value) :]
    other = compile_forest(altered, budget_seconds=120).object_code
    agreement = check_agreement(
        CompiledForest(text, other).predict(matrix), booster.predict(matrix), threshold=0.5
    )
    assert not agreement.passed
    assert agreement.max_abs_diff > TOLERANCE
    assert "decisions changed" in agreement.summary()


def test_nan_and_a_changed_decision_fail_the_check():
    interpreted = np.array([0.2, 0.49999999, 0.7])
    assert not check_agreement(np.array([0.2, np.nan, 0.7]), interpreted, threshold=0.5).passed
    flipped = check_agreement(np.array([0.2, 0.5, 0.7]), interpreted, threshold=0.5)
    assert flipped.decisions_changed == 1 and not flipped.passed
    assert not check_agreement(np.array([]), np.array([]), threshold=0.5).passed  # no rows


def test_a_compile_past_its_budget_is_stopped_with_its_reason(forest):
    text = forest[0]
    outcome = compile_forest(text, budget_seconds=0.2)
    assert outcome.object_code is None
    assert "did not finish within the 0.2 s compile budget" in outcome.reason


def test_a_broken_model_file_fails_with_the_compilers_last_line():
    outcome = compile_forest("not a model", budget_seconds=60)
    assert outcome.object_code is None and outcome.reason.startswith("compiler exited")


def test_the_keys_name_the_machine_and_the_compiler():
    assert machine_target().startswith(("x86_64-", "aarch64-", "arm64-"))
    assert compiler_version().startswith("lleaves-1.3.0-llvmlite-0.44.0")
