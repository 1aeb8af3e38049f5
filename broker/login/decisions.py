"""Running the matching engine against the broker's registry and regions."""

from __future__ import annotations

import time
from datetime import datetime

import matching
from broker import services
from broker.errors import InputError
from broker.regions import policies as regions
from broker.web import metrics


def decide(
    person: matching.Person,
    region_code: str,
    at: datetime,
    link_account: matching.AccountId | None = None,
) -> matching.Decision:
    """Decide for ``person`` logging in through ``region_code`` at ``at``; writes nothing.

    The whole of it is timed for ``broker_decision_seconds`` (the region's policies, the
    registry's lookups and the engine), observed when the attempt is recorded.
    """
    started = time.perf_counter()
    policies = regions.policies()
    region = policies.get(region_code)
    if region is None:
        raise InputError("region", f"{region_code!r} is not a federal subject code (see `broker regions list`)")
    decision = matching.decide(
        person,
        registry=services.current().registry,
        region=region,
        at=at,
        regions=policies,
        link_account=link_account,
    )
    metrics.note_decision(time.perf_counter() - started)
    return decision


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


def regions_of_accounts(person: matching.Person) -> list[str]:
    """The regions of the accounts the person would be compared with (by link, SNILS, name)."""
    registry = services.current().registry
    found = list(registry.find_by_oid(person.oid))
    if not found and person.snils:
        try:
            found = list(registry.find_by_snils(registry.snils_digest(matching.parse_snils(person.snils))))
        except matching.InvalidSnilsError:
            found = []
    if not found:
        key = matching.name_key(person.last_name, person.first_name, person.middle_name)
        found = list(registry.find_by_name(key, person.birth_date))
    return sorted({account.region for account in found})
