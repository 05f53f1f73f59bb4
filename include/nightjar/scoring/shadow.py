"""Champion vs challenger on the same nights: the evidence a promotion is decided on.

The scoring run writes the challenger's scores to ``shadow_scores`` (never to what
consumers read). Each night this compares them with the champion's, row by row: how often
the decisions agree, how far the probabilities move, and how far apart the two score
distributions are. When that night's labels land, the monitor recomputes the night with
the realised metric of both models. One row per score date, replaced on re-runs, in
``challenger_comparison``; ``nightjar model compare`` prints it and ``nightjar model
promote`` requires the policy's ``min_shadow_nights`` of it.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import psi
from nightjar.core.metrics import binary_metrics
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import DECISION, PROBABILITY
from nightjar.io import delta_tables
from nightjar.scoring.scorer import SCORE_DATE

log = logging.getLogger(__name__)
TABLE = "challenger_comparison"
_COLUMNS = [PROBABILITY, DECISION, "model_version", "model_alias"]
_DISTRIBUTION_BINS = np.linspace(0.0, 1.0, 11)
# What people read of a night's comparison (CLI and the Nightjar page).
SUMMARY_COLUMNS = [
    SCORE_DATE,
    "champion_version",
    "rows",
    "decision_agreement",
    "score_psi",
    "labelled_rows",
    "champion_metric",
    "challenger_metric",
]


def _scores(settings: Settings, config: DatasetConfig, table: str, day: dt.date) -> pd.DataFrame:
    data = delta_tables.read(
        catalog_for(settings, config).table(table),
        filters=[(SCORE_DATE, "=", day)],
        columns=[config.entity_key, *_COLUMNS],
    )
    return pd.DataFrame() if data is None else data.to_pandas()


def _distribution(probability: pd.Series) -> list[float]:
    counts, _ = np.histogram(probability.to_numpy(), bins=_DISTRIBUTION_BINS)
    return list(counts / max(counts.sum(), 1))


def compare(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    key: str,
    labels: pd.Series | None = None,
    metric: str = "roc_auc",
) -> dict[str, float | int | str | None]:
    """Agreement and distance of two models' scores of the same rows (joined on ``key``)."""
    columns = [key, PROBABILITY, DECISION, "model_version"]
    both = champion[columns].merge(
        challenger[columns], on=key, suffixes=("_champion", "_challenger")
    )
    if both.empty:
        raise ValueError("the champion and the challenger scored no common rows")
    result: dict[str, float | int | str | None] = {
        "champion_version": str(both["model_version_champion"].iloc[0]),
        "challenger_version": str(both["model_version_challenger"].iloc[0]),
        "rows": len(both),
        "decision_agreement": float(
            (both["decision_champion"] == both["decision_challenger"]).mean()
        ),
        "mean_abs_probability_change": float(
            (both["probability_champion"] - both["probability_challenger"]).abs().mean()
        ),
        "champion_mean_probability": float(both["probability_champion"].mean()),
        "challenger_mean_probability": float(both["probability_challenger"].mean()),
        "score_psi": psi(
            _distribution(both["probability_champion"]),
            _distribution(both["probability_challenger"]),
        ),
        "metric": metric,
        "labelled_rows": 0,
        "champion_metric": None,
        "challenger_metric": None,
    }
    if labels is not None:
        labelled = both.merge(labels.rename("label"), left_on=key, right_index=True)
        if not labelled.empty:
            result["labelled_rows"] = len(labelled)
            for role in ("champion", "challenger"):
                value = binary_metrics(labelled["label"], labelled[f"probability_{role}"])[metric]
                result[f"{role}_metric"] = value if np.isfinite(value) else None
    return result


def record_night(
    settings: Settings,
    config: DatasetConfig,
    score_date: dt.date,
    *,
    labels: pd.Series | None = None,
    metric: str = "roc_auc",
) -> dict | None:
    """Compare the night's champion and shadow scores and replace its comparison row.

    None when the night has no shadow scores (no challenger was pinned that night).
    ``labels`` is indexed by the entity key.
    """
    challenger = _scores(settings, config, "shadow_scores", score_date)
    if challenger.empty:
        return None
    champion = _scores(settings, config, "scores", score_date)
    # During a canary the served table holds challenger rows too: compare champion rows only.
    champion = champion[champion["model_alias"] == "champion"]
    row = {
        SCORE_DATE: score_date,
        **compare(champion, challenger, key=config.entity_key, labels=labels, metric=metric),
    }
    delta_tables.replace_partition_with_row(
        catalog_for(settings, config).table(TABLE),
        row,
        schema=_SCHEMA,
        partition_column=SCORE_DATE,
    )
    log.info(
        "shadow %s: v%s vs v%s agree on %.1f%% of %d decisions (score PSI %.3f)",
        score_date,
        row["champion_version"],
        row["challenger_version"],
        100 * row["decision_agreement"],
        row["rows"],
        row["score_psi"],
    )
    return row


def history(settings: Settings, config: DatasetConfig, challenger_version: str) -> pd.DataFrame:
    """Every compared night of ``challenger_version``, oldest first."""
    data = delta_tables.read(
        catalog_for(settings, config).table(TABLE),
        filters=[("challenger_version", "=", str(challenger_version))],
    )
    if data is None:
        return pd.DataFrame(columns=_SCHEMA.names)
    return data.to_pandas().sort_values(SCORE_DATE, ignore_index=True)


_SCHEMA = pa.schema(
    [
        (SCORE_DATE, pa.date32()),
        ("champion_version", pa.string()),
        ("challenger_version", pa.string()),
        ("rows", pa.int64()),
        ("decision_agreement", pa.float64()),
        ("mean_abs_probability_change", pa.float64()),
        ("champion_mean_probability", pa.float64()),
        ("challenger_mean_probability", pa.float64()),
        ("score_psi", pa.float64()),
        ("metric", pa.string()),
        ("labelled_rows", pa.int64()),
        ("champion_metric", pa.float64()),
        ("challenger_metric", pa.float64()),
    ]
)
