"""``broker db``: create or upgrade the broker's database."""

from __future__ import annotations

import click
from flask import Flask

from broker import commandline
from broker.db import revision


def init_app(app: Flask) -> None:
    app.cli.add_command(db_group)


@click.group("db", help="Create or upgrade the broker's database.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply every pending migration (creates the database if new).")
@commandline.clean_errors
def db_upgrade() -> None:
    revision.upgrade()
    click.echo(f"database at revision {revision.current_revision()}")


@db_group.command("current", help="Print the database's revision.")
@commandline.clean_errors
def db_current() -> None:
    current, head = revision.current_revision(), revision.head_revision()
    click.echo(f"{current or 'empty'} (latest: {head})")
