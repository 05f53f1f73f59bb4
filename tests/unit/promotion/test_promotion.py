"""One promotion rule: the retrain DAG and `nightjar model promote` ask the same question."""

import pytest

from nightjar.core.gate_policy import GatePolicy
from nightjar.promotion.rule import may_promote


def _policy(**overrides) -> GatePolicy:
    return GatePolicy(min_primary_metric=0.5, **overrides)


@pytest.mark.parametrize(
    ("policy", "by_person", "shadow_nights", "force", "allowed", "says"),
    [
        (_policy(), False, 0, False, True, "passed"),
        (_policy(require_human_approval=True), False, 0, False, False, "human approval"),
        (_policy(require_human_approval=True), True, 0, False, True, "passed"),
        # the DAG promotes a fresh challenger: no shadow nights yet, so it waits
        (_policy(min_shadow_nights=2), False, 0, False, False, "requires 2"),
        (_policy(min_shadow_nights=2), True, 1, False, False, "--force overrides"),
        (_policy(min_shadow_nights=2), True, 2, False, True, "passed"),
        (_policy(min_shadow_nights=2), True, 0, True, True, "passed"),
    ],
)
def test_one_rule_for_the_dag_and_the_cli(policy, by_person, shadow_nights, force, allowed, says):
    verdict = may_promote(
        policy,
        version="3",
        gate_passed=True,
        shadow_nights=shadow_nights,
        by_person=by_person,
        force=force,
    )
    assert verdict.allowed is allowed and says in verdict.reason


def test_nothing_promotes_a_version_that_failed_the_gate():
    for by_person in (False, True):
        verdict = may_promote(
            _policy(),
            version="3",
            gate_passed=False,
            shadow_nights=9,
            by_person=by_person,
            force=True,
        )
        assert not verdict.allowed and "has not passed the evaluation gate" in verdict.reason
