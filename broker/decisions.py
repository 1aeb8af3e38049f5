"""Running the matching engine against the broker's registry and regions."""

from __future__ import annotations

from datetime import datetime

import matching
from broker import regions, services


def decide(
    person: matching.Person,
    region_code: str,
    at: datetime,
    link_account: matching.AccountId | None = None,
) -> matching.Decision:
    """Decide for ``person`` logging in through ``region_code`` at ``at``; writes nothing."""
    policies = regions.policies()
    region = regions.get_region(region_code)
    return matching.decide(
        person,
        registry=services.current().registry,
        region=policies[region.code],
        at=at,
        regions=policies,
        link_account=link_account,
    )


def decision_report(decision: matching.Decision) -> dict[str, object]:
    """The decision as the support tools print it (values masked)."""
    report: dict[str, object] = {
        "outcome": str(decision.outcome),
        "reason": str(decision.reason) if decision.reason else None,
        "account_ids": list(decision.account_ids),
        "age": decision.age,
        "checks": [check.as_dict() for check in decision.checks],
        "message_ru": matching.message_ru(decision),
    }
    if decision.reason is not None:
        refusal = matching.REFUSALS[decision.reason]
        report.update(next_step_ru=refusal.next_step_ru, fixer=str(refusal.fixer), text_en=refusal.text_en)
    return report
