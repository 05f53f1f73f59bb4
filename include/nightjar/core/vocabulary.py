"""The names Nightjar's stages share: table columns, MLflow artifact paths and tags, and the
DAGs and pools Airflow knows Nightjar by.

Each is written by one stage and read by others (training writes the holdout that
evaluation and drift read; evaluation tags the gate result that promotion checks), so each
is defined here once.
"""

# Columns
FEATURE_DATE = "feature_date"  # features tables: the date a row's features describe
SCORE_DATE = "score_date"  # scores tables: the partition a night's scores land in
TRAINING_RUN = "training_run"  # training features: the run (branch) that built them
PROBABILITY = "probability"  # scores: the model's predicted probability
DECISION = "decision"  # scores: probability >= the model's threshold
PREDICTION = "prediction"  # a training run's holdout: its own predictions
LAKEFS_COMMIT = "lakefs_commit"  # features and scores: the lakeFS commit a row was read at
FEATURE_SPEC = "feature_spec"  # features and scores: the feature definitions' hash

# Artifacts of a training run in MLflow
MODEL_DIR = "model_file"
MODEL_TEXT = f"{MODEL_DIR}/model.txt"  # LightGBM's text model, what scoring loads
HOLDOUT = "evaluation/holdout.parquet"  # holdout rows with PREDICTION
GATE_DECISION = "gate/decision.json"

# Tags of a training run in MLflow
TAG_GATE = "nightjar.gate"  # "passed" or "failed"
TAG_TRAINING_KEY = "nightjar.training_key"  # its rows in training_features (TRAINING_RUN)
TAG_MODEL_SHA256 = "nightjar.model_sha256"
TAG_RUN_ID = "nightjar.run_id"  # on a registered version: the run that trained it
TAG_COMPILED_FOREST = "nightjar.compiled_forest"  # on a version: its compile verdict (JSON)

# lakeFS commit metadata
COMMIT_RUN_ID = "nightjar.run_id"  # the Airflow run (or CLI command) that made the commit

# Airflow: each dataset its own DAGs and pools, named after it
STAGES = ("score", "monitor", "retrain", "retrain_weekly", "watch_main")
"""Nightjar's DAGs of one dataset, by stage: ``nightjar_<stage>__<dataset>``. The Assets
drive three of them; with ``NIGHTJAR_TIME_SCHEDULES`` off, the other two have no schedule.
Airflow unpauses them all when it starts."""
DATASET_SEPARATOR = "__"


def dag_id(stage: str, dataset: str) -> str:
    """The id of ``dataset``'s DAG of ``stage`` (``nightjar_score__credit_default``)."""
    if stage not in STAGES:
        raise ValueError(f"{stage!r} is not one of Nightjar's stages {STAGES}")
    return f"nightjar_{stage}{DATASET_SEPARATOR}{dataset}"


def dag_ids(dataset: str) -> tuple[str, ...]:
    """Every DAG of ``dataset``."""
    return tuple(dag_id(stage, dataset) for stage in STAGES)


def dataset_pool(dataset: str) -> str:
    """The pool every task of ``dataset`` runs in (``airflow.pool_slots`` in its config):
    a backfill of one dataset never takes another's slots."""
    return f"nightjar{DATASET_SEPARATOR}{dataset}"


def loop_guard_pool(dataset: str) -> str:
    """One slot: the loop guard's steps (realised metrics, deciding and requesting) of
    ``dataset``'s concurrent monitoring runs take turns. Airflow's start creates it, and
    ``nightjar airflow pools`` prints the ``airflow pools set`` lines for production."""
    return f"nightjar_loop_guard{DATASET_SEPARATOR}{dataset}"
