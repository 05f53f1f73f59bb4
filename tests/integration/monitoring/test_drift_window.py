"""``measure_drift`` through Delta and MLflow: windows of stored per-night counts, the
reference choices, degenerate columns, reruns, and report size and retention.

The world is the seasonal fixture's features and predictions written straight to the
warehouse (the feature job and the scorer have their own tests), a champion run in
MLflow with its training key and holdout, as training leaves them.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.vocabulary import PROBABILITY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, tracking
from nightjar.monitoring.drift import measure_drift
from nightjar.scoring.scorer import SCORE_DATE, ModelRef
from nightjar.training.trainer import PREDICTION, TRAINING_RUN
from tests.fixtures.seasonal import generator

FIXTURE = Path(__file__).parents[2] / "fixtures/seasonal/seasonal.yaml"
TRAINED_FROM, TRAINED_THROUGH = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
FIRST_NIGHT = dt.date(2025, 4, 1)
NIGHTS = [FIRST_NIGHT + dt.timedelta(days=i) for i in range(10)]
DEGENERATE_NIGHT = NIGHTS[-1]  # weather_index all null, promo_share constant
SPEC = generator.SeasonalSpec(rows_per_day=300)


def _config(name: str, **drift):
    config = load_dataset_config(FIXTURE)
    spec = config.drift.model_copy(update=drift)
    return config.model_copy(update={"name": name, "drift": spec})


def _night(day: dt.date) -> pd.DataFrame:
    frame = generator.night(day, SPEC)
    if day == DEGENERATE_NIGHT:
        frame = frame.assign(weather_index=np.nan, promo_share=0.25)
    return frame


def _world(settings, config) -> ModelRef:
    """Training features, scored nights and the champion's MLflow run."""
    training = generator.nights(TRAINED_FROM, (TRAINED_THROUGH - TRAINED_FROM).days + 1, SPEC)
    delta_tables.append(
        settings.table_uri(config.table_name("training_features")),
        pa.Table.from_pandas(
            training.drop(columns=PROBABILITY).assign(**{TRAINING_RUN: "run-train"}),
            preserve_index=False,
        ),
        partition_by=[TRAINING_RUN],
    )
    for day in NIGHTS:
        frame = _night(day)
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("features")),
            pa.Table.from_pandas(frame.drop(columns=PROBABILITY), preserve_index=False),
            partition_column=FEATURE_DATE,
            value=day,
        )
        scores = pd.DataFrame(
            {PROBABILITY: frame[PROBABILITY], "model_version": "1", SCORE_DATE: day}
        )
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("scores")),
            pa.Table.from_pandas(scores, preserve_index=False),
            partition_column=SCORE_DATE,
            value=day,
        )
    client = tracking.client(settings)
    experiment = tracking.ensure_experiment(settings, config.name)
    run = client.create_run(experiment, tags={"nightjar.training_key": "run-train"})
    holdout = training[training[FEATURE_DATE] > TRAINED_THROUGH - dt.timedelta(days=14)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "holdout.parquet"
        holdout.rename(columns={PROBABILITY: PREDICTION}).to_parquet(path, index=False)
        client.log_artifact(run.info.run_id, str(path), "evaluation")
    return ModelRef(config.model.name, "1", run.info.run_id, "champion")


@pytest.fixture(scope="module")
def monitored(settings, tmp_path_factory):
    """Every night measured once, in order, with the defaults (a 7-night window)."""
    config = _config("drift_window")
    model = _world(settings, config)
    reports = tmp_path_factory.mktemp("reports")
    summaries = [measure_drift(settings, config, model, day, reports) for day in NIGHTS]
    return config, model, reports, summaries


def _metrics(settings, config, day) -> pd.DataFrame:
    table = delta_tables.read(
        settings.table_uri(config.table_name("drift_metrics")), filters=[(SCORE_DATE, "=", day)]
    )
    return table.to_pandas().set_index("feature")


def test_the_window_is_the_last_seven_scored_nights(settings, monitored):
    config, _, _, summaries = monitored
    last = summaries[-2]
    assert last.window == (NIGHTS[-2] - dt.timedelta(days=6), NIGHTS[-2])
    metrics = _metrics(settings, config, NIGHTS[-2])
    assert (metrics.loc[metrics["status"] == "measured", "nights"] == 7).all()
    assert metrics.loc["load", "rows_current"] == 7 * SPEC.rows_per_day
    # trained on three months: nothing 52 weeks back yet, and the summary says so
    assert metrics.loc["temperature", "reference"] == "the same nights 52 weeks earlier"
    assert metrics.loc["temperature", "status"] == "no_reference"
    assert any(line.startswith("temperature: nothing to compare") for line in last.data_quality)
    assert metrics.loc["weekday", "reference"].endswith("the same weekdays")
    counts = delta_tables.read(settings.table_uri(config.table_name("drift_counts")))
    assert set(counts.column(SCORE_DATE).to_pylist()) == set(NIGHTS)


def test_nothing_drifts_on_quiet_nights(monitored):
    *_, summaries = monitored
    assert [s.breached for s in summaries] == [False] * len(NIGHTS)


def test_a_degenerate_night_is_measured_and_named_not_failed(settings, monitored):
    config, *_, summaries = monitored
    metrics = _metrics(settings, config, DEGENERATE_NIGHT)
    # all null tonight: the night is left out of the window, as data quality
    assert metrics.loc["weather_index", "null_nights"] == 1
    assert not metrics.loc["weather_index", "drifted"]
    assert any("weather_index: no values on" in line for line in summaries[-1].data_quality)
    # constant tonight: measured, and a sixth of the window's rows in one bin is drift
    assert metrics.loc["promo_share", "status"] == "measured"
    page = Path(summaries[-1].report_html).read_text()
    assert "Not drawn by Evidently" in page and "weather_index" in page


def test_a_report_refers_to_one_shared_bundle(monitored):
    *_, reports, summaries = monitored
    page = Path(summaries[0].report_html)
    print(f"report: {page.stat().st_size} bytes")
    assert page.stat().st_size < 1_000_000, page.stat().st_size
    bundles = list((reports / "js").glob("evidently-*.js"))
    assert len(bundles) == 1 and bundles[0].stat().st_size > 1_000_000
    assert f'src="js/{bundles[0].name}"' in page.read_text()


def test_a_rerun_replaces_the_night_and_its_mlflow_record(settings, monitored):
    config, model, reports, _ = monitored
    before = _metrics(settings, config, NIGHTS[3])
    measure_drift(settings, config, model, NIGHTS[3], reports)
    after = _metrics(settings, config, NIGHTS[3])
    pd.testing.assert_frame_equal(before, after)
    client = tracking.client(settings)
    experiment = tracking.ensure_experiment(settings, f"{config.name}-monitoring")
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`nightjar.score_date` = '{NIGHTS[3]}'"
    )
    assert len(runs) == 1


def test_reports_are_kept_by_their_age_on_disk_and_their_count(settings, monitored):
    """Monitoring a past range keeps its reports (the nights are old, the files new); a
    report written long ago goes, and past a count, the oldest written go first."""
    import os
    import time

    config, model, reports, _ = monitored
    names = [f"drift-{config.name}-{day}.html" for day in NIGHTS]
    assert sorted(p.name for p in reports.glob("drift-*.html")) == names  # nights of 2025
    three_days_ago = time.time() - 3 * 86_400
    for name in names[:2]:
        for path in (reports / name, (reports / name).with_suffix(".json")):
            os.utime(path, (three_days_ago, three_days_ago))
    short = config.model_copy(
        update={"drift": config.drift.model_copy(update={"report_retention_days": 2})}
    )
    measure_drift(settings, short, model, NIGHTS[-1], reports)
    assert sorted(p.name for p in reports.glob("drift-*.html")) == names[2:]
    assert not (reports / names[0]).with_suffix(".json").exists()
    counted = short.model_copy(
        update={"drift": short.drift.model_copy(update={"report_retention_count": 3})}
    )
    measure_drift(settings, counted, model, NIGHTS[4], reports)  # the newest file now
    kept = sorted(p.name for p in reports.glob("drift-*.html"))
    assert len(kept) == 3 and names[4] in kept and names[-1] in kept


def test_a_week_earlier_reference_compares_scored_nights(settings, monitored):
    config, model, reports, _ = monitored
    weekly = config.model_copy(
        update={"drift": config.drift.model_copy(update={"reference": "week_earlier"})}
    )
    summary = measure_drift(settings, weekly, model, NIGHTS[-2], reports)
    assert (
        summary.reference == f"{NIGHTS[-2] - dt.timedelta(days=13)}..{NIGHTS[-9]} (7 days earlier)"
    )
    metrics = _metrics(settings, config, NIGHTS[-2])
    assert metrics.loc["load", "reference"] == f"{summary.reference}, the same weekdays"
    assert metrics.loc[PROBABILITY, "status"] == "measured"
