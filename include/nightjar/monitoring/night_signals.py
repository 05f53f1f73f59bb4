"""A night's retrain signals, measured under the model version that served it.

One row per (date, version) in ``retrain_signals_<dataset>``: the drift of the window
ending at the night (the prediction's PSI, the features that drifted and the share of the
model's gain importance they carry) and the roc_auc estimated from the night's
calibrated probabilities (CBPE), beside the holdout's. Realised performance is not
stored here: it is ``performance_metrics_*``, refreshed as labels land, and the loop
guard reads it there.

Each row names the scored nights its window held. A night scored later inside that
window (a backfill that finished out of order) makes the row stale; the guard then
measures the night again from the stored counts, without a report, before it decides.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.performance_estimate import estimated_roc_auc
from nightjar.core.retrain_rule import NightMeasurement
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.io import delta_tables
from nightjar.monitoring.drift import DriftSummary, measure_drift, serving_model, window_nights
from nightjar.monitoring.drift_reference import Reference, load_or_build_reference
from nightjar.scoring.scorer import SCORE_DATE, ModelRef

log = logging.getLogger(__name__)
KIND = "retrain_signals"  # the table is ``retrain_signals_<dataset>``
SCHEMA = pa.schema(
    [
        pa.field(SCORE_DATE, pa.date32()),
        pa.field("model_version", pa.string()),
        pa.field("model_run_id", pa.string()),
        pa.field("trained_as_of", pa.date32()),
        pa.field("window_nights", pa.list_(pa.date32())),
        pa.field("prediction_psi", pa.float64()),
        pa.field("drifted_features", pa.list_(pa.string())),
        pa.field("monitored_features", pa.int64()),
        pa.field("drifted_importance_share", pa.float64()),
        pa.field("estimated_roc_auc", pa.float64()),
        pa.field("expected_roc_auc", pa.float64()),
        pa.field("rows", pa.int64()),
        pa.field("measured_at", pa.timestamp("us", tz="UTC")),
        pa.field("dag_run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class MeasuredNight:
    """What measuring a night produced: its drift and its stored signals."""

    model: ModelRef
    drift: DriftSummary
    row: dict


def measure_night(
    settings: Settings,
    config: DatasetConfig,
    night: dt.date,
    *,
    reports_dir: Path | None,
    dag_run_id: str,
    model: ModelRef | None = None,
) -> MeasuredNight:
    """Measure ``night`` under the version that served it (or ``model``): drift, with a
    report when ``reports_dir`` is given, and its signals, stored."""
    model = model or serving_model(settings, config, night)
    reference = load_or_build_reference(settings, config, model)
    drift = measure_drift(settings, config, model, night, reports_dir, reference=reference)
    row = _signals_row(settings, config, model, reference, drift, dag_run_id)
    delta_tables.replace_date_range(
        catalog_for(settings, config).table(KIND),
        pa.Table.from_pylist([row], schema=SCHEMA),
        partition_column=SCORE_DATE,
        start=night,
        end=night,
        only_where={"model_version": model.version},
    )
    estimated, expected = row["estimated_roc_auc"], row["expected_roc_auc"]
    log.info(
        "signals %s under v%s: prediction PSI %s; drifted %s (%s of the model's gain); "
        "estimated roc_auc %s against the holdout's %s",
        night,
        model.version,
        _number(drift.prediction_psi),
        ", ".join(drift.drifted) or "no feature",
        _share(row["drifted_importance_share"]),
        _number(estimated),
        _number(expected),
    )
    return MeasuredNight(model, drift, row)


def _signals_row(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    reference: Reference,
    drift: DriftSummary,
    dag_run_id: str,
) -> dict:
    scores = delta_tables.read(
        catalog_for(settings, config).scores,
        filters=[(SCORE_DATE, "=", drift.score_date), ("model_version", "=", model.version)],
        columns=[PROBABILITY],
    )
    probabilities = scores.column(PROBABILITY).to_numpy() if scores is not None else []
    importance = reference.importance or {}
    return {
        SCORE_DATE: drift.score_date,
        "model_version": model.version,
        "model_run_id": model.run_id,
        "trained_as_of": reference.trained_as_of,
        "window_nights": list(drift.window_nights),
        "prediction_psi": drift.prediction_psi,
        "drifted_features": list(drift.drifted),
        "monitored_features": drift.features,
        "drifted_importance_share": (
            float(sum(importance.get(name, 0.0) for name in drift.drifted))
            if reference.importance is not None
            else None
        ),
        "estimated_roc_auc": estimated_roc_auc(probabilities, reference.calibration),
        "expected_roc_auc": reference.holdout_roc_auc,
        "rows": len(probabilities),
        "measured_at": dt.datetime.now(dt.UTC),
        "dag_run_id": dag_run_id,
    }


def stored_signals(settings: Settings, config: DatasetConfig) -> dict[tuple[dt.date, str], dict]:
    """Every stored row, by (date, version)."""
    table = delta_tables.read(catalog_for(settings, config).table(KIND))
    if table is None:
        return {}
    return {(row[SCORE_DATE], row["model_version"]): row for row in table.to_pylist()}


def is_stale(row: dict, scored: set[dt.date], window_days: int) -> bool:
    """Whether nights were scored inside the row's window since it was measured."""
    window = set(window_nights(row[SCORE_DATE], window_days))
    return set(row["window_nights"] or ()) != window & scored


def as_measurement(row: dict, realised: tuple[dt.date, float] | None) -> NightMeasurement:
    """The rule's view of a stored row, with the realised metric of the night whose
    labels are due (when that night was served by the same version)."""
    return NightMeasurement(
        night=row[SCORE_DATE],
        model_version=row["model_version"],
        trained_as_of=row["trained_as_of"],
        prediction_psi=_finite(row["prediction_psi"]),
        drifted_features=tuple(row["drifted_features"] or ()),
        drifted_importance_share=_finite(row["drifted_importance_share"]),
        estimated_roc_auc=_finite(row["estimated_roc_auc"]),
        expected_roc_auc=_finite(row["expected_roc_auc"]),
        realised=realised[1] if realised else None,
        realised_for=realised[0] if realised else None,
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN is not a value


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
