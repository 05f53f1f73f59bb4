"""Feature lineage for people: what each feature is, where it comes from, who owns it."""

from __future__ import annotations

from nightjar.core.dataset_config import (
    DatasetConfig,
    ExprFeature,
    FeatureSpec,
    TransformFeature,
    WindowFeature,
    expression_columns,
)
from nightjar.features.definitions import spec_hash


def _definition(spec: FeatureSpec) -> tuple[str, set[str]]:
    """Human-readable definition and the raw columns it reads."""
    d = spec.definition
    if isinstance(d, ExprFeature):
        return f"expr: {d.expr}", expression_columns(d.expr)
    if isinstance(d, WindowFeature):
        text = (
            f"window: {d.agg}({d.column}) per {', '.join(d.partition_by)} over the "
            f"{d.range_days} days before the event"
        )
        return text, {d.column, *d.partition_by}
    assert isinstance(d, TransformFeature)
    return f"transform: {d.transform}({', '.join(d.inputs)})", set(d.inputs)


def describe(config: DatasetConfig) -> str:
    """Each feature with its definition, type, owner and the sources it reads: what ``nightjar
    features describe`` prints."""
    lines = [
        f"dataset {config.name}: feature spec {spec_hash(config)}",
        f"entity {config.entity_key}, event time {config.event_time}",
        "",
    ]
    for name, spec in config.features.items():
        text, columns = _definition(spec)
        sources = sorted(
            s
            for s, t in config.sources.items()
            if columns & t.contributed_names() and s != config.label.source
        )
        checks = [f"type {spec.type}", "not null" if not spec.nullable else "nullable"]
        if spec.min is not None:
            checks.append(f">= {spec.min}")
        if spec.max is not None:
            checks.append(f"<= {spec.max}")
        owners = {config.sources[s].owner for s in sources if config.sources[s].owner}
        lines += [
            f"{name}{' (categorical)' if name in config.categorical else ''}",
            f"  {text}",
            f"  sources: {', '.join(f'{s} ({config.sources[s].path})' for s in sources) or '-'}",
            f"  owner:   {spec.owner or config.owner}"
            + (f"; source owners: {', '.join(sorted(owners))}" if owners else ""),
            f"  checks:  {', '.join(checks)}",
        ]
        if spec.description:
            lines.append(f"  about:   {spec.description}")
    return "\n".join(lines)
