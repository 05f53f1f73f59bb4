"""The model card templates render every section, with and without a gate record."""

import datetime as dt
from types import SimpleNamespace

import pytest

from nightjar.core.templates import render
from nightjar.promotion.compilation import CompiledVerdict
from nightjar.promotion.model_card import _metric_table


def _card(config, **overrides) -> str:
    context = {
        "name": "credit_default",
        "version": "3",
        "config": config,
        "tags": {"nightjar.lakefs_commit": "c0ffee", "nightjar.feature_spec": "abc"},
        "params": {"time_range": "2026-01-01..2026-02-28", "as_of": "2026-02-28"},
        "model_sha256": "f" * 64,
        "run_id": "run-1",
        "metric_table": _metric_table,
        "holdout_metrics": {"roc_auc": 0.81},
        "slice_metrics": {},
        "gate": {"checks": [{"name": "min_auc", "passed": True, "value": 0.81, "threshold": 0.65}]},
        "compiled": None,
        "approvals": [
            SimpleNamespace(
                recorded_at=dt.datetime(2026, 3, 1, 2, 0),
                alias="champion",
                from_version="2",
                to_version="3",
                actor="nightjar_retrain",
                reason="passed the evaluation gate",
            )
        ],
    }
    return render("nightjar.promotion", "model_card.md.j2", **{**context, **overrides})


def test_the_card_shows_lineage_metrics_gate_and_approvals(config):
    card = _card(config)
    assert card.startswith("# Model card: credit_default v3")
    assert "| lakeFS commit | `c0ffee` |" in card and "| roc_auc | 0.8100 |" in card
    assert "- PASS `min_auc`: 0.81 (threshold 0.65)" in card
    assert "2026-03-01 02:00 UTC: `champion` 2 -> 3 by nightjar_retrain" in card
    assert "No slices configured." in card


def test_a_card_without_gate_or_approvals_says_so(config):
    card = _card(config, gate=None, approvals=[])
    assert "No gate decision recorded." in card and "- not yet promoted" in card


def test_the_html_card_escapes_the_markdown():
    page = render(
        "nightjar.promotion", "model_card.html.j2", name="m", version="1", markdown="<script>x"
    )
    assert "&lt;script&gt;x" in page and "<script>x" not in page


def test_a_missing_value_is_an_error_not_a_blank():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("nightjar.promotion", "model_card.html.j2", name="m", version="1")


def test_the_card_says_what_scores_the_version(config):
    assert "No compiled forest" in _card(config)
    passed = CompiledVerdict(
        "passed", "", compiler="lleaves-1.3.0-llvmlite-0.44.0", target="x86_64-znver3-e235546b",
        compile_seconds=2.3, artifact_bytes=418_448, rows_checked=1200, max_abs_diff=2.2e-16,
    )  # fmt: skip
    card = _card(config, compiled=passed)
    assert "compiled (lleaves-1.3.0-llvmlite-0.44.0, x86_64-znver3-e235546b; 2.3 s, 0.4 MB)" in card
    assert "agrees with the Booster on 1200 holdout rows" in card
    assert "CPU is\n`x86_64-znver3-e235546b`" in card
    failed = CompiledVerdict("failed", "did not finish within the 120 s compile budget")
    card = _card(config, compiled=failed)
    assert "compilation failed: did not finish within the 120 s compile budget" in card
    assert "scored with the Booster" in card
