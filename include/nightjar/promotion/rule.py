"""The one rule for making a version champion, for the retrain DAG and the CLI alike.

A version may become champion when it passed the evaluation gate, when a person asks
for it if the policy requires human approval, and when it has been shadow-scored beside
the champion for the policy's ``min_shadow_nights`` (a person may override only that,
with ``--force``). The DAG promotes a fresh challenger, which has no shadow nights yet, so
with ``min_shadow_nights`` above 0 it stays challenger until ``nightjar model promote``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nightjar.core.gate_policy import GatePolicy


@dataclass(frozen=True)
class PromotionVerdict:
    """Whether a version may become champion now, and the reason either way."""

    allowed: bool
    reason: str


def may_promote(
    policy: GatePolicy,
    *,
    version: str,
    gate_passed: bool,
    shadow_nights: int,
    by_person: bool,
    force: bool = False,
) -> PromotionVerdict:
    """Whether ``version`` may become champion now, and why (or why not)."""
    if not gate_passed:
        return PromotionVerdict(False, f"v{version} has not passed the evaluation gate")
    if policy.require_human_approval and not by_person:
        return PromotionVerdict(
            False,
            f"v{version} stays challenger: the policy requires human approval "
            f"(`nightjar model promote --version {version}`)",
        )
    required = policy.min_shadow_nights
    if shadow_nights < required and not force:
        override = "; --force overrides" if by_person else ""
        return PromotionVerdict(
            False,
            f"v{version} has {shadow_nights} shadow night(s); the gate policy requires "
            f"{required} (min_shadow_nights) before promotion{override}",
        )
    return PromotionVerdict(True, "passed the evaluation gate")
