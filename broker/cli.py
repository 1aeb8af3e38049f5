"""The ``broker`` command line (Flask CLI): the group, put together from each wing's ``cli`` module.

Each wing keeps its commands beside its services (``broker.db.cli``: ``db``; ``broker.registry.cli``:
``registry``; ``broker.regions.cli``: ``regions``, ``preflight``; ``broker.login.cli``: ``invites``,
``simulate``; ``broker.staff.cli``: ``staff``, ``tokens``; ``broker.ops.cli``: ``purge``). The one
group that spans wings, ``keys``, is assembled here. What every command shares is in
``broker.commandline``.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from broker.db import cli as dbcli
from broker.login import cli as logincli
from broker.oidc import cli as oidccli
from broker.ops import cli as opscli
from broker.regions import cli as regionscli
from broker.registry import cli as registrycli
from broker.staff import cli as staffcli


def main() -> None:
    from broker import create_app

    FlaskGroup(create_app=create_app, help="The ESIA identity broker of the school diary.")()


def init_app(app: Flask) -> None:
    for wing in (dbcli, registrycli, regionscli, logincli, staffcli, opscli):
        wing.init_app(app)
    app.cli.add_command(keys_group)


@click.group("keys", help="The broker's keys: id_token signing keys, and re-keying stored oid digests.")
def keys_group() -> None:
    pass


keys_group.add_command(oidccli.keys_generate)  # the portals' id_token signing keys
keys_group.add_command(opscli.keys_rehash_oids)  # the login attempts' stored oid digests
