"""``broker staff`` and ``broker tokens``: staff accounts and API tokens from the server's shell.

Every change is audited with the actor ``cli:<os user>``. Passwords are prompted twice, or read
from ``--password-file`` (``-`` is standard input) for automation; they never appear in the
command line, the output or the logs. A new API token is printed once, alone on standard output.
"""

from __future__ import annotations

import sys

import click
from flask import Flask

from broker import commandline, services
from broker.db.models import Staff
from broker.errors import InputError
from broker.staff import accounts as staff
from broker.staff import tokens as apitokens
from broker.staff.accounts import Role


def init_app(app: Flask) -> None:
    app.cli.add_command(staff_group)
    app.cli.add_command(tokens_group)


# --- staff -------------------------------------------------------------------------------------


@click.group("staff", help="Staff accounts: admins, regional operators and support agents.")
def staff_group() -> None:
    pass


@staff_group.command("create")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--region", "regions", multiple=True, help="An operator's region code (repeat for several).")
@click.option("--name", default="", help="The name shown on the staff pages.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the password from this file ('-': standard input) instead of prompting.",
)
@commandline.needs_schema
def staff_create(login: str, role: str, regions: tuple[str, ...], name: str, password_file: str | None) -> None:
    """Create a staff member who signs in at /admin with LOGIN and a password (12 characters or more)."""
    # Everything but the password is checked before it is asked for.
    login = staff.check_login(login)
    staff.check_regions(staff.check_role(role), regions)
    staff.check_name(name)
    if staff.find_staff(login) is not None:
        raise InputError("login", f"{login!r} exists already")
    member = staff.create_staff(login, role=role, password=_password(password_file), name=name, regions=regions, actor=commandline.actor())
    scope = f" in regions {', '.join(member.regions)}" if member.regions else ""
    click.echo(f"{member.login}: {member.role} created{scope}")


@staff_group.command("list")
@commandline.needs_schema
def staff_list() -> None:
    """List staff: login, role, regions, state, last login."""
    for member in staff.all_staff():
        scope = ",".join(member.regions) if member.role == Role.OPERATOR else "all"
        last = member.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if member.last_login_at else "never"
        click.echo(f"{member.login:<24} {member.role:<9} {scope:<16} {_state(member):<8} last login {last}")


@staff_group.command("set-password")
@click.argument("login")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the password from this file ('-': standard input) instead of prompting.",
)
@commandline.needs_schema
def staff_set_password(login: str, password_file: str | None) -> None:
    """Set a new password: also unlocks the login and ends the member's sessions."""
    member = staff.get_staff(login)
    staff.set_password(member, _password(password_file), actor=commandline.actor())
    click.echo(f"{member.login}: password set")


@staff_group.command("disable")
@click.argument("login")
@commandline.needs_schema
def staff_disable(login: str) -> None:
    """Disable a member: they cannot sign in, their sessions end and their API tokens stop working."""
    member = staff.disable_staff(staff.get_staff(login), actor=commandline.actor())
    click.echo(f"{member.login}: disabled")


@staff_group.command("enable")
@click.argument("login")
@commandline.needs_schema
def staff_enable(login: str) -> None:
    """Let a disabled member sign in again."""
    member = staff.enable_staff(staff.get_staff(login), actor=commandline.actor())
    click.echo(f"{member.login}: enabled")


def _password(path: str | None) -> str:
    if path is None:
        return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.readline()
    except OSError as exc:
        raise InputError("--password-file", f"cannot open {path}: {exc.strerror}") from None
    return text.rstrip("\r\n")


def _state(member: Staff) -> str:
    if member.disabled_at is not None:
        return "disabled"
    return "locked" if staff.is_locked(member) else "active"


# --- API tokens --------------------------------------------------------------------------------


@click.group("tokens", help="API tokens: bearer tokens that act as their staff member.")
def tokens_group() -> None:
    pass


@tokens_group.command("create")
@click.option("--staff", "login", required=True, help="The staff member the token acts as.")
@click.option("--name", required=True, help="What the token is for, e.g. 'registry sync'.")
@click.option("--days", required=True, type=int, help="How many days it works.")
@commandline.needs_schema
def tokens_create(login: str, name: str, days: int) -> None:
    """Create a token and print it once (standard output, alone on its line); only its digest is kept."""
    token, clear = apitokens.create_token(staff.get_staff(login), name=name, days=days, actor=commandline.actor())
    click.echo(f"token {token.prefix}… for {login}, valid until {token.expires_at:%Y-%m-%d %H:%M} UTC; it is shown only now", err=True)
    click.echo(clear)


@tokens_group.command("list")
@click.option("--staff", "login", help="Only this staff member's tokens.")
@commandline.needs_schema
def tokens_list(login: str | None) -> None:
    """List tokens: id, prefix, owner, state, expiry, last use, name (never the token)."""
    members = [staff.get_staff(login)] if login else staff.all_staff()
    now = services.current().clock()
    for member in members:
        for token in apitokens.tokens_of(member):
            state = "revoked" if token.revoked_at else ("live" if apitokens.is_live(token, now) else "expired")
            used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
            click.echo(
                f"{token.id:>5}  {token.prefix}…  {member.login:<20} {state:<8} "
                f"until {token.expires_at:%Y-%m-%d}  used {used}  {token.name}"
            )


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@commandline.needs_schema
def tokens_revoke(token_id: int) -> None:
    """Revoke the token with this id (see `broker tokens list`)."""
    token = apitokens.find_token(token_id)
    if token is None:
        raise InputError("TOKEN_ID", f"no token {token_id} (see `broker tokens list`)")
    apitokens.revoke_token(token, actor=commandline.actor())
    click.echo(f"{token.prefix}…: revoked")
