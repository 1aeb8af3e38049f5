"""The ``broker`` command line (Flask CLI): the group, put together from each wing's ``cli`` module.

Each wing keeps its commands beside its services (``broker.db.cli``: ``db``; ``broker.registry.cli``:
``registry``; ``broker.regions.cli``: ``regions``, ``preflight``; ``broker.login.cli``: ``invites``,
``simulate``; ``broker.staff.cli``: ``staff``, ``tokens``; ``broker.ops.cli``: ``purge``). The one
group that spans wings, ``keys``, is assembled here. What every command shares is in
``broker.commandline``.

The group knows these commands without building the app, so that a newcomer with no config yet
gets ``broker --help``, every command's ``--help`` and ``broker keys generate``; a command that
needs the app builds it just before it runs, and a config error is then one line naming the key.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo

from broker.db import cli as dbcli
from broker.errors import ConfigError
from broker.login import cli as logincli
from broker.oidc import cli as oidccli
from broker.ops import cli as opscli
from broker.ops import serve
from broker.regions import cli as regionscli
from broker.registry import cli as registrycli
from broker.staff import cli as staffcli


def main() -> None:
    BrokerGroup(create_app=_create_app, help="The ESIA identity broker of the school diary.")()


def init_app(app: Flask) -> None:
    for wing in (dbcli, registrycli, regionscli, logincli, staffcli, opscli):
        wing.init_app(app)
    app.cli.add_command(keys_group)
    app.cli.add_command(serve.serve_command)  # gunicorn in front of create_app (broker/ops/serve.py)


@click.group("keys", help="The broker's keys: id_token signing keys, and re-keying stored oid digests.")
def keys_group() -> None:
    pass


keys_group.add_command(oidccli.keys_generate)  # the portals' id_token signing keys
keys_group.add_command(opscli.keys_rehash_oids)  # the login attempts' stored oid digests

#: Commands that never touch the app (nor its secrets): they run with no config at all.
NEEDS_NO_APP: frozenset[click.Command] = frozenset({oidccli.keys_generate, opscli.esia_group})


class BrokerGroup(FlaskGroup):
    """Flask's group, knowing the broker's commands without building the app.

    Flask's own group builds the app to list or find any command of the app's, so that without
    ``SECRET_KEY`` even ``broker --help`` showed a traceback and no broker command.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()  # Flask's run, shell, routes and the extensions' (limiter)
        return sorted(set(super(FlaskGroup, self).list_commands(ctx)) | set(_catalogue()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = _catalogue().get(name)
        if command is None:
            return super().get_command(ctx, name)  # built-ins and plugins; builds the app for others
        return _app_when_run(command)


@cache
def _catalogue() -> dict[str, click.Command]:
    """The broker's commands by name, gathered by :func:`init_app` on a bare app (it reads no config)."""
    bare = Flask(__name__)
    init_app(bare)
    return dict(bare.cli.commands)


def _create_app() -> Flask:
    """The app, a config error (what to set, and where) ending the command with one line."""
    from broker import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _app_when_run(command: click.Command) -> click.Command:
    """A copy of ``command`` (of each command of a group) that builds the app just before it runs."""
    if command in NEEDS_NO_APP:
        return command
    clone = copy.copy(command)
    if isinstance(command, click.Group):
        assert isinstance(clone, click.Group)
        clone.commands = {name: _app_when_run(sub) for name, sub in command.commands.items()}
    elif command.callback is not None:
        clone.callback = _in_app_context(command.callback)
    return clone


def _in_app_context(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` run in the app's context, the app built first unless one is current (Flask's
    ``with_appcontext``, the app built only after the command line has been parsed)."""

    @wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not current_app:
            ctx = click.get_current_context()
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return callback(*args, **kwargs)

    return run
