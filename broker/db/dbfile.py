"""The SQLite database file: created readable by its owner only, in an owner-only instance folder.

SQLite creates a missing database file on the first connection, with the process's umask
(usually world-readable, 0644), and its write-ahead log and shared-memory files copy the
database file's mode. The file holds the registry (keyed SNILS digests, names, birth dates), so
the broker creates it itself, ``0600`` like the signing keys, just before SQLite would; the
instance folder, when the broker is the one to create it, is ``0700``. An existing file is left
as it is. In-memory databases and other database servers (PostgreSQL) are not touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def sqlite_path(filename: str | None, *, uri: bool = False) -> Path | None:
    """The file SQLite would open for ``filename`` (as passed to ``sqlite3.connect``), or None
    for an in-memory database."""
    if not filename or filename == ":memory:":
        return None
    if not uri:
        return Path(filename)  # without uri=True SQLite takes even "file:x" as a plain name
    parts = urlsplit(filename)
    if "memory" in parse_qs(parts.query).get("mode", []):
        return None
    path = unquote(parts.path)
    return None if path in ("", ":memory:") else Path(path)


def prepare(app: Flask) -> None:
    """Before Flask-SQLAlchemy binds: create the instance folder owner-only if a relative SQLite
    path will put the database there (Flask-SQLAlchemy would create it with the umask's mode)."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return
    database = url.database[5:] if url.query.get("uri") else url.database  # sqlite:///file:x?uri=true
    if not os.path.isabs(database):
        _make_folder(Path(app.instance_path))


def protect(app: Flask, engine: Engine) -> None:
    """Create ``engine``'s SQLite file owner-only before SQLite first opens it."""
    instance = Path(app.instance_path)

    @event.listens_for(engine, "do_connect")
    def _create_owner_only(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        if dialect.name != "sqlite":
            return
        path = sqlite_path(cargs[0] if cargs else cparams.get("database"), uri=bool(cparams.get("uri")))
        if path is None:
            return
        if path.parent == instance and not instance.exists():
            _make_folder(instance)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass
        except OSError:
            pass  # e.g. no such folder: SQLite itself reports it, as it would have anyway


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True)
    except FileExistsError:
        pass
