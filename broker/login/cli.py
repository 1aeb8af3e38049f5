"""``broker invites`` and ``broker simulate``: invite codes for a child's first link, and the what-if tool.

Invite codes are issued, listed and revoked from the server's shell, audited with the actor
``cli:<os user>``. A new code is printed once, alone on standard output (hand it to the family); it
is kept only as an HMAC. ``simulate`` runs the login's decision on given ESIA person data and writes
nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask

import matching
from broker import commandline
from broker.db.models import InviteCode
from broker.errors import InputError
from broker.login import decisions, invites
from broker.regions import policies as regions
from providers import InvalidUpstreamResponseError, person_from_esia


def init_app(app: Flask) -> None:
    app.cli.add_command(invites_group)
    app.cli.add_command(simulate_command)


# --- invites -----------------------------------------------------------------------------------


@click.group("invites", help="Invite codes: a child's first ESIA link where the region asks for one.")
def invites_group() -> None:
    pass


@invites_group.command("issue")
@click.option("--account", "account_id", required=True, help="The diary account id the code opens.")
@click.option("--days", type=int, default=None, help="Lifetime in days (default INVITE_CODE_DAYS).")
@commandline.needs_schema
def invites_issue(account_id: str, days: int | None) -> None:
    """Issue a code for ACCOUNT (earlier live codes of the account are revoked); printed once."""
    issued = invites.issue(account_id, days=days, actor_staff=None, actor=commandline.actor())
    click.echo(f"invite {issued.invite.id} for {account_id}, expires {issued.invite.expires_at:%Y-%m-%d %H:%M} UTC",
               err=True)  # fmt: skip
    click.echo(issued.code)


@invites_group.command("list")
@click.option("--account", "account_id", default=None, help="One account's codes.")
@click.option("--school", "school_id", default=None, help="One school's codes.")
@commandline.needs_schema
def invites_list(account_id: str | None, school_id: str | None) -> None:
    """List codes (never the codes themselves): id, account, status, issued by and when, expiry."""
    for invite in invites.list_invites(staff=None, account_id=account_id, school_id=school_id):
        click.echo(_line(invite))


@invites_group.command("revoke")
@click.argument("invite_id", type=int)
@commandline.needs_schema
def invites_revoke(invite_id: int) -> None:
    """Revoke code INVITE_ID for good."""
    invite = invites.revoke(invite_id, actor_staff=None, actor=commandline.actor())
    click.echo(_line(invite))


def _line(invite: InviteCode) -> str:
    return (f"{invite.id}\t{invite.account_id}\t{invites.status_of(invite)}\t{invite.issued_by}\t"
            f"{invite.issued_at:%Y-%m-%d %H:%M}\t{invite.expires_at:%Y-%m-%d %H:%M}")  # fmt: skip


# --- simulate ----------------------------------------------------------------------------------


@click.command("simulate")
@click.option(
    "--person",
    "person_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="ESIA person data as /rs/prns/{oid} returns it (documents embedded), JSON.",
)
@click.option("--region", "region_code", help="The login's region code; default: the person's accounts' region.")
@click.option("--at", "at_text", help="The login instant, ISO 8601; without an offset, the region's local time.")
@commandline.needs_schema
def simulate_command(person_file: str, region_code: str | None, at_text: str | None) -> None:
    """Decide for ESIA person data against the current registry, writing nothing.

    Prints one JSON object: outcome, reason, account_ids, checks, message_ru. The exit status
    is 0 whatever the outcome, and non-zero only for unusable input.
    """
    try:
        person = person_from_esia(_read_json(person_file))
    except InvalidUpstreamResponseError as exc:
        raise InputError(f"{exc.field} (in --person)", exc.why) from None
    code = region_code or _infer_region(person)
    region = regions.get_region(code)
    at = commandline.parse_at(at_text, region.timezone)
    decision = decisions.decide(person, region.code, at)
    report = {"region": region.code, "at": at.isoformat(), **decisions.decision_report(decision)}
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


def _read_json(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8-sig") as handle:
                text = handle.read()
    except OSError as exc:
        raise InputError("--person", f"cannot open {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("--person", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _infer_region(person: matching.Person) -> str:
    codes = decisions.regions_of_accounts(person)
    if len(codes) != 1:
        seen = f"accounts in regions {', '.join(codes)}" if codes else "no accounts"
        raise InputError("--region", f"cannot be inferred ({seen} for this person); pass --region NN")
    return codes[0]
