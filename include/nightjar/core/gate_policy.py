"""The policy file: what a challenger must show to be promoted, and which signals may
request a retrain, read from one YAML file.

A pure type, below every stage: evaluation applies the gate, promotion reads its approval
and shadow-night rules, monitoring reads its floor and its retrain triggers.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightjar.core.errors import ConfigError


class RetrainTriggers(BaseModel):
    """Which signals may request a retrain, each with its threshold. Every signal is
    measured, recorded with each night's decision and shown on the page; only those set
    here make a night breach. The defaults request a retrain only for what hurts the
    model: its performance, estimated or realised, not covariate drift alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimated_performance_drop: float | None = Field(
        default=0.05,
        gt=0,
        description="Breach when the roc_auc estimated from the night's calibrated "
        "probabilities (CBPE) is this far below the holdout's; null: off.",
    )
    realised_below_floor: bool = Field(
        default=True,
        description="Breach when the realised primary metric of the night whose labels are "
        "due is below min_primary_metric, the gate's floor.",
    )
    prediction_psi: float | None = Field(
        default=None,
        gt=0,
        description="Breach when the PSI of the predicted probabilities over the window "
        "exceeds this; null: off (covariate drift alone does not retrain).",
    )
    drifted_importance_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Breach when the features that drifted carry more than this share of "
        "the champion's gain importance; null: off.",
    )


class GatePolicy(BaseModel):
    """What a challenger must show to be promoted; unset settings take these defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    primary_metric: str = Field(default="roc_auc", description="Metric the gate compares.")
    min_primary_metric: float = Field(description="Absolute floor on the holdout.")
    max_regression_vs_champion: float = Field(
        default=0.0, ge=0, description="How much worse than the champion it may be."
    )
    min_improvement_vs_champion: float = Field(
        default=0.0, description="How much better than the champion it must be."
    )
    max_brier: float | None = Field(default=None, description="Calibration guardrail.")
    max_latency_ms_per_10k: float | None = Field(
        default=None, description="Scoring latency guardrail, measured on the holdout."
    )
    max_slice_gap: float | None = Field(
        default=None, description="Largest primary-metric gap between slices."
    )
    min_slice_rows: int = Field(default=200, description="Smaller slices are not gated.")
    require_human_approval: bool = Field(
        default=False, description="Shadow-score until `nightjar model promote`."
    )
    min_shadow_nights: int = Field(
        default=0, ge=0, description="Shadow nights `nightjar model promote` requires."
    )
    retrain_triggers: RetrainTriggers = Field(
        default_factory=RetrainTriggers,
        description="Which signals may request a retrain (see RetrainTriggers).",
    )


def explain_policy(path: Path) -> str:
    """Each setting of the policy at ``path``, its value, and whether the file set it or
    Nightjar's default applies."""
    policy = load_policy(path)
    lines = [f"gate policy {path}"]
    lines += _explain(policy, indent="  ")
    return "\n".join(lines)


def _explain(model: BaseModel, *, indent: str) -> list[str]:
    lines = []
    for name, field_info in type(model).model_fields.items():
        value = getattr(model, name)
        origin = "set in the file" if name in model.model_fields_set else "default"
        if isinstance(value, BaseModel):
            lines.append(f"{indent}{name}:  ({origin})")
            lines += _explain(value, indent=indent + "  ")
            continue
        lines.append(f"{indent}{name:28} {value!s:>8}  ({origin})")
        if field_info.description:
            lines.append(f"{indent}{'':28} {field_info.description}")
    return lines


def load_policy(path: Path) -> GatePolicy:
    """The policy at ``path``; ConfigError naming each bad setting otherwise."""
    try:
        return GatePolicy.model_validate(yaml.safe_load(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"gate policy {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"gate policy {path}: {problems}") from None
