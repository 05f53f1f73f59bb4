"""DAG integrity: every dataset gets its DAGs, tagged and retried; a broken config breaks
only its own; parsing does no I/O beyond reading the configs, and imports nothing heavy."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nightjar.core.vocabulary import STAGES, dag_id, dataset_pool, loop_guard_pool

DAGS = Path(__file__).parents[3] / "dags"
FIXTURES = Path(__file__).parents[2] / "fixtures"
PACKAGED = Path(__file__).parents[3] / "include/nightjar/configs"


def _folder(tmp: Path, *configs: Path) -> Path:
    """A datasets folder holding ``configs`` (with their gate policies beside them)."""
    folder = tmp / "datasets"
    folder.mkdir(exist_ok=True)
    for config in configs:
        shutil.copy(config, folder / config.name)
        for policy in config.parent.glob("*policy*.yaml"):
            shutil.copy(policy, folder / policy.name)
    policies = PACKAGED / "policies"
    shutil.copytree(policies, tmp / "policies", dirs_exist_ok=True)
    return folder


def _bag(monkeypatch, folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("NIGHTJAR_DATASET_CONFIG", raising=False)
    monkeypatch.setenv("NIGHTJAR_DATASETS_DIR", str(folder))
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("three")
    return _folder(
        tmp,
        PACKAGED / "datasets/credit_default.yaml",
        FIXTURES / "bikes/bikes.yaml",
        FIXTURES / "churn/churn.yaml",
    )


@pytest.fixture
def dagbag(monkeypatch, three):
    return _bag(monkeypatch, three)


DATASETS = ("bikes", "churn", "credit_default")


def test_every_dataset_gets_every_stage_and_nothing_fails_to_import(dagbag):
    assert dagbag.import_errors == {}
    expected = {dag_id(stage, name) for stage in STAGES for name in DATASETS}
    assert set(dagbag.dag_ids) == expected


def test_every_dag_is_tagged_owned_pooled_documented_and_retried(dagbag):
    from nightjar.airflow.priority import NightlyBeforeBackfill

    for name in DATASETS:
        for stage in STAGES:
            dag = dagbag.dags[dag_id(stage, name)]
            assert {"nightjar", f"dataset:{name}"} <= set(dag.tags), dag.dag_id
            assert dag.doc_md and name in dag.doc_md, dag.dag_id
            for task in dag.tasks:
                assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
                assert isinstance(task.weight_rule, NightlyBeforeBackfill)
                expected = loop_guard_pool(name) if task.task_id == "request_retrain" else None
                assert task.pool == (expected or dataset_pool(name)), task.task_id


def test_each_dataset_has_its_own_assets(dagbag):
    from nightjar.airflow import assets

    for name in DATASETS:
        watcher = dagbag.dags[dag_id("watch_main", name)].get_task("detect_raw_changes")
        assert watcher.outlets == [assets.raw_data(name)]
        timetable = dagbag.dags[dag_id("score", name)].timetable
        assert assets.raw_data(name).name in str(timetable.asset_condition)
        others = [other for other in DATASETS if other != name]
        assert all(assets.raw_data(o).name not in str(timetable.asset_condition) for o in others)
        score = dagbag.dags[dag_id("score", name)].get_task("score")
        assert score.outlets == [assets.scores(name)]


def test_scoring_runs_may_overlap_for_backfills(dagbag):
    assert dagbag.dags[dag_id("score", "credit_default")].max_active_runs > 1


def test_a_broken_config_is_one_import_error_naming_file_and_field(monkeypatch, three, tmp_path):
    folder = _folder(tmp_path, *sorted(three.glob("*.yaml")))
    broken = folder / "broken.yaml"
    broken.write_text(
        (folder / "churn.yaml").read_text().replace("name: churn", "name: broken", 1)
        .replace("entity_key:", "entity_kee:", 1)
    )  # fmt: skip
    bag = _bag(monkeypatch, folder)
    assert len(bag.import_errors) == 1
    [(file, error)] = bag.import_errors.items()
    assert file.endswith("nightjar_dataset_configs.py")
    assert "broken.yaml" in error and "entity_kee" in error
    expected = {dag_id(stage, name) for stage in STAGES for name in DATASETS}
    assert set(bag.dag_ids) == expected, "the other datasets parse as before"


def test_two_configs_may_not_share_a_name_a_model_or_a_table(monkeypatch, three, tmp_path):
    from nightjar.core.datasets import load_datasets
    from nightjar.core.settings import Settings

    folder = _folder(tmp_path, *sorted(three.glob("*.yaml")))
    text = (folder / "churn.yaml").read_text()
    (folder / "z_same_name.yaml").write_text(text)
    loaded = load_datasets(Settings(datasets_dir=folder), functions=False)
    assert sorted(loaded.configs) == list(DATASETS)
    [(path, error)] = loaded.errors.items()
    assert path.name == "z_same_name.yaml" and "already" in error and "churn.yaml" in error


def test_timetables_come_from_each_config(dagbag):
    timetable = dagbag.dags[dag_id("score", "credit_default")].timetable
    assert timetable.timetable.expression == "0 1 * * *"


def test_parsing_imports_nothing_heavy_and_opens_no_socket(three):
    """Parse every DAG file in a fresh interpreter with sockets and file writes forbidden."""
    probe = textwrap.dedent(f"""
        import builtins, os, socket, sys
        os.environ["NIGHTJAR_DATASETS_DIR"] = {str(three)!r}
        os.environ.pop("NIGHTJAR_DATASET_CONFIG", None)
        def refuse(*a, **k):
            raise RuntimeError("network access at DAG parse time")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        assert not bag.import_errors, bag.import_errors
        heavy = {{"pyspark", "mlflow", "lightgbm", "deltalake", "lakefs", "evidently",
                  "pandera", "duckdb", "pyarrow"}}
        loaded = sorted(heavy & {{m.split(".")[0] for m in sys.modules}})
        assert not loaded, f"heavy modules imported at parse time: {{loaded}}"
        print("ok", len(bag.dag_ids))
    """)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ok {len(STAGES) * len(DATASETS)}" in result.stdout


def test_with_the_clock_off_scoring_is_backfilled_but_never_scheduled(monkeypatch, three):
    """NIGHTJAR_TIME_SCHEDULES=false: the scheduler creates no scoring run, while a
    backfill over past dates still lists one run per day, as Airflow reads the DAG back
    from its database (the serialized timetable, found through the plugin)."""
    import datetime as dt

    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("NIGHTJAR_TIME_SCHEDULES", "false")
    bag = _bag(monkeypatch, three)
    served = DagSerialization.from_dict(
        DagSerialization.to_dict(bag.dags[dag_id("score", "bikes")])
    )
    assert served.timetable.periodic
    assert served.next_dagrun_info(last_automated_run_info=None) is None
    days = served.iter_dagrun_infos_between(
        dt.datetime(2025, 6, 2, tzinfo=dt.UTC), dt.datetime(2025, 6, 12, tzinfo=dt.UTC)
    )
    assert [info.data_interval.start.date() for info in days] == [
        dt.date(2025, 6, 2) + dt.timedelta(days=i) for i in range(10)
    ]
