"""``broker registry import``: load the diary's registry export (CSV or JSON Lines), audited."""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Any

import click
from flask import Flask, current_app

from broker import commandline, services
from broker.errors import InputError
from broker.extensions import db
from broker.regions import policies as regions
from broker.registry import importer


def init_app(app: Flask) -> None:
    app.cli.add_command(registry_group)


@click.group("registry", help="The diary's account registry.")
def registry_group() -> None:
    pass


@registry_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file name.")
@click.option(
    "--allow-links",
    is_flag=True,
    help="Write the file's esia_oid links (create, or move a link a file made); each is audited. "
    "Without it the accounts are written and their esia_oid is not (a warning per row).",
)
@commandline.needs_schema
def registry_import(file: str, fmt: str | None, allow_links: bool) -> None:
    """Import (upsert by id) a CSV or JSON Lines registry export.

    Columns: id, login, role, region, school_id, last_name, first_name, middle_name,
    birth_date, gender, snils, status, esia_oid. Rejected rows are listed on standard error
    (line, field, why) and write nothing; the exit status is 1 if any row was rejected.

    An esia_oid lets that ESIA person into the account without comparing names, so it is written
    only with --allow-links; a link a person made at login is never moved. The run is audited
    (who, the file's SHA-256, the counts), and so is every link it writes.
    """
    fmt = fmt or ("csv" if file == "-" else importer.detect_format(file))
    parser = importer.RowParser(
        regions=frozenset(r.code for r in regions.all_regions()),
        snils_key=services.current().snils_key,
        today=services.current().clock().date(),
    )
    db.session.commit()  # end the read transaction before the import's own

    def show(problem: importer.Rejection, rejected: bool) -> None:
        click.echo(f"{'rejected' if rejected else 'warning'}: {problem}", err=True)

    try:
        # Read as UTF-8 with or without a BOM, with the csv module's own newline handling, through
        # a reader that hashes the bytes for the audit log. Standard input is left open.
        raw: Any = sys.stdin.buffer if file == "-" else open(file, "rb", buffering=0)
    except OSError as exc:
        raise InputError("FILE", f"cannot open {file}: {exc.strerror}") from None
    closing: Any = contextlib.nullcontext() if file == "-" else raw
    digesting = importer.DigestingReader(raw)
    stream = io.TextIOWrapper(io.BufferedReader(digesting, 1 << 16), encoding="utf-8-sig", newline="")
    try:
        with closing, db.engine.connect() as connection:
            report = importer.import_registry(
                connection,
                importer.read_rows(stream, fmt),
                parser,
                actor=commandline.actor(),
                allow_links=allow_links,
                digest=digesting.hexdigest,
                batch_size=current_app.config["IMPORT_BATCH_SIZE"],
                on_problem=show,
                background=True,
            )
    except UnicodeDecodeError:
        raise InputError("FILE", "is not UTF-8 text") from None
    links = report.link_counts
    click.echo(
        f"{report.rows} rows read: {report.written} accounts written, {report.links} links, "
        f"{report.rejected} rejected, {report.warnings} warnings"
        + (" (initial load: lookup indexes built after loading)" if report.initial_load else "")
    )
    click.echo(
        f"accounts: {report.inserted} new, {report.updated} updated; links: {links.created} created, "
        f"{links.moved} moved ({links.sessions_ended} sessions ended), {links.kept} kept (made by their owner)"
        + (f", {links.ignored} not written (no --allow-links)" if links.ignored else "")
        + f"; audit event {report.run}, file SHA-256 {report.file_sha256}"
    )
    if report.rejected:
        sys.exit(1)
