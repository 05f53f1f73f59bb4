"""Seeded generator of the demo use case: consumer-credit applications and late labels.

Every day brings new applications from a pool of returning customers; whether an
application defaults becomes known ``label_delay_days`` later. From ``drift_from`` on,
the applicant population shifts (lower incomes, larger loans, a different region mix),
and the default rate moves with it, so monitoring has something real to find.

The same (seed, date) always yields the same rows, whatever else is generated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west"]
PRODUCTS = ["card", "personal", "auto", "mortgage"]


@dataclass(frozen=True)
class DemoSpec:
    """The seeded demo population: its size, label delay and when the injected drift starts."""

    seed: int = 7
    rows_per_day: int = 2000
    customers: int = 20000
    label_delay_days: int = 30
    drift_from: dt.date | None = None
    drift_strength: float = 1.0


def _rng(spec: DemoSpec, day: dt.date, stream: str) -> np.random.Generator:
    key = hashlib.sha256(f"{spec.seed}|{day.isoformat()}|{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def applications_for(day: dt.date, spec: DemoSpec) -> pd.DataFrame:
    """The applications that arrive on ``day``."""
    rng = _rng(spec, day, "applications")
    n = spec.rows_per_day
    drift = spec.drift_strength if spec.drift_from and day >= spec.drift_from else 0.0
    seconds = np.sort(rng.integers(0, 86_400, n))
    event_ts = pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")
    income = np.exp(rng.normal(10.8 - 0.5 * drift, 0.5, n)).round(2)
    region_p = np.array([0.3, 0.3, 0.2, 0.2]) * (1 - drift) + np.array([0.1, 0.1, 0.2, 0.6]) * drift
    employment = rng.gamma(2.0, 3.0, n).round(1)
    employment[rng.random(n) < 0.08] = np.nan
    return pd.DataFrame(
        {
            "application_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(n)],
            "customer_id": [f"c{c:06d}" for c in rng.integers(0, spec.customers, n)],
            "event_ts": event_ts,
            "income": income,
            "age": rng.integers(18, 80, n),
            "loan_amount": (rng.lognormal(9.0 + 0.6 * drift, 0.8, n)).round(2),
            "term_months": rng.choice([12, 24, 36, 48, 60], n),
            "credit_lines": rng.poisson(4, n),
            "employment_years": employment,
            "region": rng.choice(REGIONS, n, p=region_p / region_p.sum()),
            "product": rng.choice(PRODUCTS, n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _default_probability(apps: pd.DataFrame) -> np.ndarray:
    """The ground truth the model has to learn: a known logistic function of the inputs."""
    monthly = apps["loan_amount"] / apps["term_months"] * 1.05
    burden = monthly / (apps["income"] / 12 + 1)
    logit = (
        -2.3
        + 3.0 * burden
        - 0.02 * (apps["age"] - 40)
        + 0.12 * (apps["credit_lines"] - 4)
        - 0.05 * apps["employment_years"].fillna(0)
        + apps["region"].map({"north": -0.2, "south": 0.0, "east": 0.1, "west": 0.35})
        + apps["product"].map({"card": 0.3, "personal": 0.2, "auto": -0.1, "mortgage": -0.4})
    )
    return 1 / (1 + np.exp(-logit.to_numpy(dtype=float)))


def labels_for(event_day: dt.date, spec: DemoSpec) -> pd.DataFrame:
    """Outcomes of ``event_day``'s applications, each known ``label_delay_days`` later."""
    apps = applications_for(event_day, spec)
    rng = _rng(spec, event_day, "labels")
    defaulted = (rng.random(len(apps)) < _default_probability(apps)).astype("int64")
    delay = pd.to_timedelta(spec.label_delay_days, unit="D")
    return pd.DataFrame(
        {
            "application_id": apps["application_id"],
            "defaulted": defaulted,
            "label_ts": apps["event_ts"] + delay,
        }
    )


def labels_arriving_on(day: dt.date, spec: DemoSpec) -> pd.DataFrame:
    """The labels that become known on ``day`` (outcomes of events ``delay`` days earlier)."""
    return labels_for(day - dt.timedelta(days=spec.label_delay_days), spec)
