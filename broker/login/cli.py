"""``broker invites``: the schools' one-time invite codes for a child's first link.

Issue, list and revoke from the server's shell, audited with the actor ``cli:<os user>``. A new
code is printed once, alone on standard output (hand it to the family); it is kept only as an HMAC.
"""

from __future__ import annotations

import click
from flask import Flask

from broker import commandline
from broker.login import invites
from broker.db.models import InviteCode
from broker.oidc.sessions import as_utc


def init_app(app: Flask) -> None:
    app.cli.add_command(invites_group)


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
    click.echo(f"invite {issued.invite.id} for {account_id}, expires {as_utc(issued.invite.expires_at):%Y-%m-%d %H:%M} UTC",
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
            f"{as_utc(invite.issued_at):%Y-%m-%d %H:%M}\t{as_utc(invite.expires_at):%Y-%m-%d %H:%M}")  # fmt: skip
