"""`nightjar query` finds the warehouse's Delta tables on a path or behind a URI (the
object-store listing runs through pyarrow's filesystems, here with file://)."""

import pyarrow as pa

from nightjar.io import delta_tables
from nightjar.io.analytics import table_names


def test_tables_are_listed_the_same_on_a_path_and_behind_a_uri(settings, tmp_path):
    for name in ("scores_x", "drift_metrics_x"):
        delta_tables.append(str(tmp_path / name), pa.table({"a": [1]}))
    (tmp_path / "not_a_table").mkdir()
    on_path = settings.model_copy(update={"warehouse_uri": str(tmp_path)})
    behind_uri = settings.model_copy(update={"warehouse_uri": tmp_path.as_uri()})
    assert table_names(on_path) == table_names(behind_uri) == ["drift_metrics_x", "scores_x"]
