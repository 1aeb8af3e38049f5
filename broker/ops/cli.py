"""``broker purge`` and ``broker keys rehash-oids``: retention, and re-keying stored oid digests."""

from __future__ import annotations

import click
from flask import Flask, current_app

from broker import commandline, services
from broker.ops import rehash as oidrehash
from broker.ops import retention


def init_app(app: Flask) -> None:
    app.cli.add_command(purge_command)


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
