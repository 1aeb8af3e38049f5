"""What every ``broker`` command shares: clean error lines, the schema check, the actor, ``--at``."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from broker import services
from broker.db import revision
from broker.errors import BrokerError, InputError
from providers import ProviderError

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(func: F) -> F:
    """Show broker errors as one line naming the field, with exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BrokerError, ProviderError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def needs_schema(func: F) -> F:
    """Refuse to run before ``broker db upgrade`` (and show errors as :func:`clean_errors` does)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        revision.ensure_current()
        return func(*args, **kwargs)

    return clean_errors(wrapper)  # type: ignore[return-value]


def actor() -> str:
    """Who acts, for the audit log: the operating-system user running the command."""
    return f"cli:{getpass.getuser()}"


def parse_at(text: str | None, timezone_name: str) -> datetime:
    """``--at``: an ISO 8601 instant, in the region's local time when it has no offset; default now."""
    if not text:
        return services.current().clock()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputError("--at", "must be an ISO 8601 instant such as 2026-09-01T08:00+03:00") from None
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(timezone_name))
