"""The ``broker`` command line (Flask CLI): database, registry, regions and the what-if tool."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

import matching
from broker import commandline, services
from broker.ops import rehash as oidrehash
from broker.ops import retention
from broker.staff import cli as staffcli
from broker.regions import preflight
from broker.regions import admin as regionadmin
from broker.regions import policies as regions
from broker.registry import importer
from broker.login import decisions
from broker.login import cli as invitecli
from broker.oidc import keys
from broker.db import revision as schema
from broker.errors import InputError
from broker.extensions import db
from providers import InvalidUpstreamResponseError, person_from_esia


def main() -> None:
    from broker import create_app

    FlaskGroup(create_app=create_app, help="The ESIA identity broker of the school diary.")()


def init_app(app: Flask) -> None:
    for command in (db_group, registry_group, regions_group, simulate_command, keys_group):
        app.cli.add_command(command)
    app.cli.add_command(preflight.preflight_command)
    staffcli.init_app(app)
    invitecli.init_app(app)
    app.cli.add_command(retention.purge_command)


# --- database ----------------------------------------------------------------------------------


@click.group("db", help="Create or upgrade the broker's database.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply every pending migration (creates the database if new).")
@commandline.clean_errors
def db_upgrade() -> None:
    schema.upgrade()
    click.echo(f"database at revision {schema.current_revision()}")


@db_group.command("current", help="Print the database's revision.")
@commandline.clean_errors
def db_current() -> None:
    current, head = schema.current_revision(), schema.head_revision()
    click.echo(f"{current or 'empty'} (latest: {head})")


# --- registry ----------------------------------------------------------------------------------


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
        today=datetime.now(timezone.utc).date(),
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


# --- regions -----------------------------------------------------------------------------------


@click.group("regions", help="Switch ESIA login on or off per federal subject.")
def regions_group() -> None:
    pass


@regions_group.command("list")
@click.option("--enabled", "only_enabled", is_flag=True, help="Only regions with ESIA login on.")
@commandline.needs_schema
def regions_list(only_enabled: bool) -> None:
    """List the federal subjects: code, ESIA login on/off, time zone, name."""
    for region in regions.all_regions():
        if only_enabled and not region.enabled:
            continue
        state = "on " if region.enabled else "off"
        click.echo(f"{region.code}  {state}  {region.timezone:<20} {region.name}")


def _switch(codes: tuple[str, ...], enabled: bool, comment: str) -> None:
    for code in codes:
        regions.get_region(code)  # validate every code and the comment before changing any
    regionadmin.check_comment(comment)
    state = "enabled" if enabled else "disabled"
    for code in codes:
        change = regionadmin.change_region(
            code, enabled=enabled, policy=None, comment=comment, actor_staff=None, actor=commandline.actor()
        )
        region = change.region
        click.echo(f"{region.code} {region.name}: ESIA login {state if change.changed else 'was ' + state + ' already'}")


_COMMENT = click.option("--comment", required=True, help="Why (kept in the audit log with who and when).")


@regions_group.command("enable")
@click.argument("codes", nargs=-1, required=True)
@_COMMENT
@commandline.needs_schema
def regions_enable(codes: tuple[str, ...], comment: str) -> None:
    """Switch ESIA login on in the regions with these two-digit codes (audited, with --comment)."""
    _switch(codes, True, comment)


@regions_group.command("disable")
@click.argument("codes", nargs=-1, required=True)
@_COMMENT
@commandline.needs_schema
def regions_disable(codes: tuple[str, ...], comment: str) -> None:
    """Switch ESIA login off in the regions with these two-digit codes (audited, with --comment)."""
    _switch(codes, False, comment)


# --- simulate ----------------------------------------------------------------------------------


@click.command("simulate")
@click.option("--person", "person_file", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="ESIA person data as /rs/prns/{oid} returns it (documents embedded), JSON.")
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


# --- keys --------------------------------------------------------------------------------------


@click.group("keys", help="The broker's keys: id_token signing keys, and re-keying stored oid digests.")
def keys_group() -> None:
    pass


@keys_group.command("generate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@commandline.clean_errors
def keys_generate(file: Path) -> None:
    """Write a new RSA signing key (PEM, owner-only) to FILE; list it in OIDC_SIGNING_KEY_FILES."""
    if file.exists():
        raise InputError("FILE", f"{file} exists; a key is never overwritten")
    keys.generate_key_file(file)
    click.echo(f"{file}: new RSA key, kid {keys.load_signing_keys([str(file)]).active_kid}")


@keys_group.command("rehash-oids")
@click.option("--dry-run", is_flag=True, help="Count what would move; change nothing.")
@click.option("--batch-size", type=int, default=oidrehash.DEFAULT_BATCH_SIZE, show_default=True,
              help="Linked oids per transaction.")  # fmt: skip
@commandline.needs_schema
def keys_rehash_oids(dry_run: bool, batch_size: int) -> None:
    """Re-key the oid digests of linked persons' attempts from OID_HASH_KEY_FALLBACKS to OID_HASH_KEY.

    Attempts of persons never linked keep their old digest (the broker has no oid in clear for
    them): searches still find them through the fallback until ATTEMPT_RETENTION_DAYS deletes
    them. Idempotent; a run is recorded in the audit log (a dry run is not).
    """
    report = oidrehash.rehash_oids(actor=commandline.actor(), batch_size=batch_size, dry_run=dry_run)
    if not report.fallback_keys:
        click.echo("OID_HASH_KEY_FALLBACKS is empty: every oid digest is under OID_HASH_KEY already")
        return
    verb = "would move" if dry_run else "moved"
    click.echo(f"{report.linked_oids} linked oids: {report.attempts_rekeyed} attempts {verb} to OID_HASH_KEY")
    if not dry_run:
        click.echo("recorded in the audit log; attempts of persons never linked keep their old digest until retention")
