"""The gate policy: what a challenger must show to be promoted, read from a YAML file.

A pure type, below every stage: evaluation applies it, promotion reads its approval and
shadow-night rules, monitoring reads its thresholds.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightjar.core.errors import ConfigError


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


def explain_policy(path: Path) -> str:
    """Each setting of the policy at ``path``, its value, and whether the file set it or
    Nightjar's default applies."""
    policy = load_policy(path)
    lines = [f"gate policy {path}"]
    for name, field_info in GatePolicy.model_fields.items():
        origin = "set in the file" if name in policy.model_fields_set else "default"
        lines.append(f"  {name:28} {getattr(policy, name)!s:>8}  ({origin})")
        if field_info.description:
            lines.append(f"  {'':28} {field_info.description}")
    return "\n".join(lines)


def load_policy(path: Path) -> GatePolicy:
    """The policy at ``path``; ConfigError naming each bad setting otherwise."""
    try:
        return GatePolicy.model_validate(yaml.safe_load(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"gate policy {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"gate policy {path}: {problems}") from None
