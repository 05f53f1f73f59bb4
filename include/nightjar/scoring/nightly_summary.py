"""One row per scored night: rows, mean probability, share flagged, model versions, and the
champion that served it.

The Nightjar page charts the last nights from this small table instead of aggregating
millions of score rows on every view (a year of 1M-row nights made that the page's
slowest part). The score task writes a night's row right after the night's partition,
from that committed partition, and replaces it on a re-run: if the task dies in between,
its retry rewrites both, and a night with scores but no summary row is aggregated from the
scores by the page (``missing_nights``), so the chart is never silently short.
"""

from __future__ import annotations

import datetime as dt
import logging

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import DECISION, PROBABILITY
from nightjar.io import delta_tables
from nightjar.scoring.scorer import SCORE_DATE

log = logging.getLogger(__name__)
KIND = "score_summary"  # the table is ``score_summary_<dataset>``
COLUMNS = [SCORE_DATE, "rows", "mean_probability", "flagged", "model_version"]
_SCHEMA = pa.schema(
    [
        pa.field(SCORE_DATE, pa.date32()),
        pa.field("rows", pa.int64()),
        pa.field("mean_probability", pa.float64()),
        pa.field("flagged", pa.float64()),
        pa.field("model_version", pa.string()),
        # The pinned champion: the version that served the night, which monitoring
        # measures it under (a canary's rows carry the challenger's version too).
        pa.field("champion_version", pa.string()),
        pa.field("champion_run_id", pa.string()),
    ]
)


def summarise(batches) -> dict[str, object]:
    """Rows, mean probability, share of rows flagged and the model versions of a night's
    scores, read batch by batch (a night of any size in constant memory)."""
    rows, probability_sum, flagged = 0, 0.0, 0
    versions: set[str] = set()
    for batch in batches:
        rows += batch.num_rows
        probability_sum += pc.sum(batch.column(PROBABILITY)).as_py() or 0.0
        flagged += pc.sum(pc.cast(batch.column(DECISION), pa.int64())).as_py() or 0
        versions.update(pc.unique(batch.column("model_version")).to_pylist())
    return {
        "rows": rows,
        "mean_probability": probability_sum / rows if rows else None,
        "flagged": flagged / rows if rows else None,
        "model_version": ",".join(sorted(versions, key=lambda v: (len(v), v))),
    }


def record_night(
    settings: Settings,
    config: DatasetConfig,
    day: dt.date,
    *,
    champion_version: str | None = None,
    champion_run_id: str | None = None,
) -> dict[str, object]:
    """Summarise ``day``'s committed scores partition into its summary row (replacing any
    earlier one), naming the champion that served it, and return the row."""
    uri = catalog_for(settings, config).scores
    scores = delta_tables.open_table(uri)
    if scores is None:
        raise ValueError(f"no scores table to summarise for {day}")
    # Not noted as a lineage input: it is the task's own output, read back.
    night = scores.to_pyarrow_dataset(file_pruning_predicate=[(SCORE_DATE, "=", day)])
    scanner = night.scanner(
        columns=[PROBABILITY, DECISION, "model_version"], filter=ds.field(SCORE_DATE) == day
    )
    summary = {
        SCORE_DATE: day,
        **summarise(scanner.to_batches()),
        "champion_version": champion_version,
        "champion_run_id": champion_run_id,
    }
    delta_tables.replace_partition_with_row(
        catalog_for(settings, config).table(KIND),
        summary,
        schema=_SCHEMA,
        partition_column=SCORE_DATE,
    )
    log.info(
        "night %s: %d rows, mean probability %.4f, %.1f%% flagged (summary for the page)",
        day, summary["rows"], summary["mean_probability"] or 0.0,
        100 * (summary["flagged"] or 0.0),
    )  # fmt: skip
    return summary
