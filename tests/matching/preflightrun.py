"""The pre-flight run on builder accounts: what ``tests/matching`` reads of its report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from matching import Account, AccountRow, Finding, PreflightReport, Reason, RegionPolicy, name_key, preflight_region
from tests.builders import MOSCOW, NOW


def row_of(account: Account) -> AccountRow:
    """The account as the registry's columns give it to the pre-flight."""
    return AccountRow(
        id=account.id,
        login=account.login,
        role=str(account.role),
        school_id=account.school_id,
        last_name=account.last_name,
        first_name=account.first_name,
        middle_name=account.middle_name,
        name_key=name_key(account.last_name, account.first_name, account.middle_name),
        birth_date=account.birth_date or date(1990, 1, 1),
        snils_digest=account.snils_digest,
        snils_masked=account.snils_masked,
        snils_valid=account.snils_valid,
        status=str(account.status),
        linked=account.esia_oid is not None,
    )


def run(*accounts: Account, region: RegionPolicy = MOSCOW, at: datetime = NOW, **kwargs: Any) -> PreflightReport:
    return preflight_region((row_of(a) for a in accounts), region=region, at=at, **kwargs)


def findings(report: PreflightReport) -> dict[str, tuple[tuple[Finding, ...], Reason | None]]:
    return {account.id: (account.findings, account.reason) for account in report.flagged}
