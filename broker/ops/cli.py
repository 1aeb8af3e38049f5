"""``broker purge``, ``broker keys rehash-oids`` and ``broker esia``: retention, re-keying stored oid
digests, and the keys of the connection to ESIA (``esia check``, ``esia keygen``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

from broker import commandline, config, services, wiring
from broker.errors import ConfigError
from broker.ops import esiacheck, esiakeys, retention
from broker.ops import rehash as oidrehash


def init_app(app: Flask) -> None:
    app.cli.add_command(purge_command)
    app.cli.add_command(esia_group)


# --- purge -------------------------------------------------------------------------------------


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; delete nothing.")
@click.option("--batch-size", type=int, default=retention.DEFAULT_BATCH_SIZE, show_default=True, help="Rows deleted per transaction.")
@commandline.needs_schema
def purge_command(dry_run: bool, batch_size: int) -> None:
    """Delete login attempts and audit events past their retention, and whatever has expired.

    Periods: ATTEMPT_RETENTION_DAYS and AUDIT_RETENTION_DAYS (see config.example.toml). Prints
    what was removed per table; the purge is recorded in the audit log (a dry run is not).
    """
    config = current_app.config
    report = retention.purge(
        services.current().clock(),
        attempt_days=config["ATTEMPT_RETENTION_DAYS"],
        audit_days=config["AUDIT_RETENTION_DAYS"],
        batch_size=batch_size,
        dry_run=dry_run,
        actor=commandline.actor(),
    )
    verb = "would remove" if dry_run else "removed"
    width = max(len(name) for name in report.removed)
    for name, count in report.removed.items():
        click.echo(f"{name:<{width}}  {count:>9} {verb}  ({report.why[name]})")
    if dry_run:
        click.echo(f"dry run: {report.total} rows would be removed; nothing was deleted")
    else:
        click.echo(f"{report.total} rows removed; the purge is recorded in the audit log")


# --- keys rehash-oids (the ``keys`` group is put together in ``broker.cli``) -------------------


@click.command("rehash-oids")
@click.option("--dry-run", is_flag=True, help="Count what would move; change nothing.")
@click.option("--batch-size", type=int, default=oidrehash.DEFAULT_BATCH_SIZE, show_default=True,
              help="Linked oids per transaction.")  # fmt: skip
@commandline.needs_schema
def keys_rehash_oids(dry_run: bool, batch_size: int) -> None:
    """Re-key the oid digests of linked persons' attempts and wrong invite codes from OID_HASH_KEY_FALLBACKS to OID_HASH_KEY.

    Attempts of persons never linked keep their old digest (the broker has no oid in clear for
    them): searches still find them through the fallback until ATTEMPT_RETENTION_DAYS deletes
    them. Idempotent; a run is recorded in the audit log (a dry run is not).
    """
    report = oidrehash.rehash_oids(actor=commandline.actor(), batch_size=batch_size, dry_run=dry_run)
    if not report.fallback_keys:
        click.echo("OID_HASH_KEY_FALLBACKS is empty: every oid digest is under OID_HASH_KEY already")
        return
    verb = "would move" if dry_run else "moved"
    click.echo(f"{report.linked_oids} linked oids: {report.attempts_rekeyed} attempts and "
               f"{report.invite_failures_rekeyed} wrong invite codes {verb} to OID_HASH_KEY")  # fmt: skip
    if not dry_run:
        click.echo("recorded in the audit log; attempts of persons never linked keep their old digest until retention")


# --- esia check, esia keygen (they build no app: a broken ESIA config is what check explains) ---


@click.group("esia", help="The connection to ESIA: check the configured keys, make keys for a new system.")
def esia_group() -> None:
    pass


def _config() -> Mapping[str, Any]:
    """The broker's config as the app would read it, without building the app (ESIA's part may be broken)."""
    if current_app:
        return current_app.config
    bare = Flask("broker", instance_relative_config=True)
    try:
        config.load(bare, None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return bare.config


@esia_group.command("check")
def esia_check() -> None:
    """Load the configured certificate and signer, sign a sample in the configured flow, verify it,
    and read ESIA's certificates; say in plain words what is wrong. Exit status 1 on any error."""
    findings = esiacheck.check(_config(), wiring.make_signer, dt.datetime.now(dt.UTC))
    for finding in findings:
        click.echo(str(finding), err=finding.level == "error")
    errors = sum(1 for finding in findings if finding.level == "error")
    if errors:
        raise click.ClickException(f"{errors} problem{'s' if errors > 1 else ''} with the ESIA keys; see above.")
    click.echo("ESIA keys are in order.")


@esia_group.command("keygen")
@click.option("--out", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder to write NAME.key and NAME.csr (or NAME.cer) into.")  # fmt: skip
@click.option("--name", default="esia", show_default=True, help="File name of the key and the request.")
@click.option("--common-name", required=True, help="The system's name for the certificate's CN, e.g. its mnemonic.")
@click.option("--organization", required=True, help="The operator's organisation for the certificate's O.")
@click.option("--self-signed", is_flag=True, help="Write a self-signed certificate (ESIA's test environment) instead of a request.")
@click.option("--days", type=int, default=365, show_default=True, help="Validity of a self-signed certificate.")
@commandline.clean_errors
def esia_keygen(folder: Path, name: str, common_name: str, organization: str, self_signed: bool, days: int) -> None:
    """Write a GOST R 34.10-2012 (256) key (owner-only) and a certificate request for it, or a
    self-signed certificate for ESIA's test environment. Needs OpenSSL's GOST engine."""
    made = esiakeys.generate(folder, name=name, common_name=common_name, organization=organization, self_signed=self_signed, days=days)
    click.echo(f"{made.key}: new GOST R 34.10-2012 (256) key, readable by its owner only")
    if made.request is not None:
        click.echo(f"{made.request}: certificate request; have an accredited CA issue the certificate on it")
    if made.certificate is not None:
        click.echo(f"{made.certificate}: self-signed certificate, for ESIA's test environment only")
        click.echo(f"client_certificate_hash {made.certificate_hash}")
    click.echo(
        "Next: README.md, 'ESIA keys and registration'; then set ESIA_KEY_FILE and ESIA_CERTIFICATE_FILE and run `broker esia check`."
    )
