"""The nightly summary the score task writes, and the page's charts read from it: a night
summarised from its committed scores, and a night without a summary aggregated instead."""

import datetime as dt

import pyarrow as pa

from nightjar.core.settings import Settings
from nightjar.io import delta_tables
from nightjar.io.analytics import connect, table_names
from nightjar.scoring import nightly_summary
from nightjar.ui.dashboard import _nights

DAYS = [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]


def _scores(settings: Settings, config, day: dt.date, probabilities: list[float], version: str):
    delta_tables.replace_partition(
        settings.table_uri(config.table_name("scores")),
        pa.table({
            config.entity_key: [f"e{i}" for i in range(len(probabilities))],
            "probability": probabilities,
            "decision": [p > 0.5 for p in probabilities],
            "model_version": [version] * len(probabilities),
            "score_date": pa.array([day] * len(probabilities), pa.date32()),
        }),
        partition_column="score_date",
        value=day,
    )  # fmt: skip


def test_a_night_is_summarised_from_its_scores_and_replaced_on_a_rerun(tmp_path, config):
    settings = Settings(home=tmp_path)
    _scores(settings, config, DAYS[0], [0.1, 0.9, 0.6, 0.2], "3")
    first = nightly_summary.record_night(settings, config, DAYS[0])
    assert first["rows"] == 4 and first["model_version"] == "3"
    assert abs(first["mean_probability"] - 0.45) < 1e-12 and first["flagged"] == 0.5
    _scores(settings, config, DAYS[0], [0.7, 0.8], "4")  # the night scored again
    nightly_summary.record_night(settings, config, DAYS[0])
    rows = delta_tables.read(settings.table_uri(config.table_name(nightly_summary.KIND)))
    assert rows.to_pylist() == [
        {"score_date": DAYS[0], "rows": 2, "mean_probability": 0.75, "flagged": 1.0,
         "model_version": "4", "champion_version": None, "champion_run_id": None}
    ]  # fmt: skip


def test_the_page_aggregates_a_night_that_has_no_summary(tmp_path, config):
    settings = Settings(home=tmp_path)
    _scores(settings, config, DAYS[0], [0.2, 0.4], "1")
    nightly_summary.record_night(settings, config, DAYS[0])
    _scores(settings, config, DAYS[1], [0.6, 0.8, 1.0], "2")  # its task died before the summary
    tables = set(table_names(settings))
    nights = _nights(connect(settings, only=tables), config, tables, DAYS, reference=None)
    shown = nights["versions"].assign(score_date=lambda f: f["score_date"].dt.date)
    assert shown.to_dict("records") == [
        {"score_date": DAYS[0], "model_version": "1"},
        {"score_date": DAYS[1], "model_version": "2"},
    ]
    assert [row[1] for row in nights["table"]["rows"]] == [3, 2]  # newest first
    assert "<svg" in nights["rows_chart"] and "<svg" in nights["probability_chart"]
