"""What each pipeline step takes and returns: typed models that serialise to XCom JSON.

Airflow hands a step's result to the next task as JSON. These models are that JSON's
schema: ``nightjar.airflow.glue`` validates a task's inputs into them and dumps its
result from them, and the tasks' extra links read their fields. A renamed field is
therefore a validation error in the first run (and a failing unit test before that),
never a link that silently goes blank.

The ``*Ref`` models are the fields a link reads. A step's result inherits the reference
of every link attached to its task; ``tests/unit/airflow/test_step_contracts.py`` checks
that for each task of each DAG. Imported at DAG parse time (by the links): pydantic only.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """A step's input or output: immutable, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- what the links read ------------------------------------------------------------------


class LakeFSCommitRef(Contract):
    """A lakeFS commit a task pinned (the lakeFS commit link)."""

    repository: str
    commit_id: str


class MlflowRunRef(Contract):
    """An MLflow run a task logged or used (the MLflow run link)."""

    run_id: str


class ModelVersionRef(Contract):
    """A registered model version (the registered-model and model-card links)."""

    model_name: str
    version: str


class DriftReportRef(Contract):
    """A drift report a task wrote (the drift report link)."""

    report_html: str


# --- snapshots ----------------------------------------------------------------------------


class SnapshotRef(LakeFSCommitRef):
    """The run's lakeFS branch and the immutable commit every later step reads."""

    branch: str


# --- retraining ---------------------------------------------------------------------------


class TrainingAllowed(Contract):
    """The guard let the retrain go ahead, as of this date."""

    as_of: dt.date


class TrainingFeatures(Contract):
    """The training window's features, written under this run's key."""

    training_key: str
    rows: int
    quarantined: int
    feature_spec: str


class TrainedModel(MlflowRunRef):
    """A trained model, logged to MLflow with its lineage."""

    model_uri: str
    model_id: str | None
    model_sha256: str
    holdout_metrics: dict[str, float]


class GateCheck(Contract):
    """One check of the gate, as the policy file defines it."""

    name: str
    value: float | str | None
    threshold: float | str | None
    passed: bool
    detail: str = ""


class GateVerdict(Contract):
    """The gate's decision: every check, and whether the challenger passed."""

    passed: bool
    checks: list[GateCheck]
    champion_version: str | None = None
    note: str = ""


class Registration(ModelVersionRef):
    """The version registered as challenger, whether the promotion rule made it champion,
    and what became of compiling its forest (``CompiledVerdict.summary``)."""

    promoted: bool
    compiled: str = ""


# --- scoring ------------------------------------------------------------------------------


class PinnedModel(Contract):
    """A model version resolved from an alias once, at run start."""

    name: str
    version: str
    run_id: str
    alias: str


class PinnedModels(Contract):
    """What a scoring run uses: the champion, and the challenger for shadow scoring."""

    champion: PinnedModel
    challenger: PinnedModel | None = None


class ScoringInputs(SnapshotRef):
    """What a scoring run pins once, at its start: the lakeFS commit it reads and the
    model versions it scores with."""

    models: PinnedModels


class NightFeatures(Contract):
    """One date's scoring features."""

    score_date: dt.date
    rows: int
    quarantined: int
    feature_spec: str


class ScoringFeatures(NightFeatures):
    """Every date of the run (one, unless Asset events were batched); the newest at the top."""

    dates: list[NightFeatures]


class NightScores(MlflowRunRef, ModelVersionRef):
    """One date scored: rows per role, and the pinned champion's run and version."""

    score_date: dt.date
    rows: dict[str, int]
    shadow_agreement: float | None = None


class ScoredNights(NightScores):
    """Every date the run scored; the newest at the top, for the links."""

    dates: list[NightScores]


# --- data-aware triggering ----------------------------------------------------------------


class RawDataChanges(LakeFSCommitRef):
    """Commits on main that changed a scoring source, and the dates they changed."""

    date: dt.date
    dates: list[dt.date]
    commits: list[str]


# --- monitoring ---------------------------------------------------------------------------


class NightDrift(DriftReportRef):
    """One night's drift against its reference, and its retrain signals, under the model
    version that served it."""

    score_date: dt.date
    breached: bool
    drifted: list[str]
    prediction_psi: float | None
    window: tuple[dt.date, dt.date]
    reference: str
    data_quality: list[str]
    model_version: str
    model_run_id: str
    estimated_roc_auc: float | None = None
    expected_roc_auc: float | None = None
    drifted_importance_share: float | None = None


class DriftMeasurement(NightDrift):
    """Every night the run measured, oldest first; the newest at the top, for the links."""

    dates: list[NightDrift]


class NightPerformance(Contract):
    """Realised quality of a night's scores once its labels landed."""

    score_date: dt.date
    rows: int
    metric: str
    value: float
    below_threshold: bool


class RealisedPerformance(Contract):
    """Each of the run's dates: its realised performance, or None while labels are pending."""

    nights: dict[dt.date, NightPerformance | None]


class RetrainRequest(Contract):
    """The loop guard fired: retrain as of this date, for this reason (``dates``: every
    night it requested a retrain for in the same pass, oldest first)."""

    date: dt.date
    as_of: dt.date
    reason: str
    dates: list[dt.date] = []
