"""``broker regions`` and ``broker preflight``: switch ESIA login per region, and predict a region's refusals."""

from __future__ import annotations

import time

import click
from flask import Flask

from broker import commandline
from broker.db import revision
from broker.errors import BrokerError, InputError
from broker.regions import admin as regionadmin
from broker.regions import policies as regions
from broker.regions import preflight


def init_app(app: Flask) -> None:
    app.cli.add_command(regions_group)
    app.cli.add_command(preflight_command)


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
        change = regionadmin.change_region(code, enabled=enabled, policy=None, comment=comment, actor_staff=None, actor=commandline.actor())
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


# --- preflight ---------------------------------------------------------------------------------


@click.command("preflight")
@click.option("--region", "region_code", required=True, help="The region's two-digit code (enabled or not).")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the accounts to fix to this CSV file (masked SNILS only).",
)
@click.option("--at", "at_text", help="The login instant, ISO 8601; without an offset, the region's local time. Default: now.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0), help="Schools to list.")
def preflight_command(region_code: str, csv_file: str | None, at_text: str | None, top: int) -> None:
    """Predict which accounts of a region will be refused at an ESIA login, and why.

    Prints the totals, the predicted refusals and the findings by count, and the schools with
    the most refusals; with --csv, also writes every account to fix. Writes nothing to the
    database. Exit status 2 for an unknown region or a bad --at.
    """
    try:
        revision.ensure_current()
        try:
            region = regions.get_region(region_code)
        except InputError as exc:
            raise click.BadParameter(exc.why, param_hint="'--region'") from None
        try:
            at = commandline.parse_at(at_text, region.timezone)
        except InputError as exc:
            raise click.BadParameter(exc.why, param_hint="'--at'") from None
        started = time.perf_counter()
        report = preflight.run_preflight(region.code, at)
        seconds = time.perf_counter() - started
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(preflight.format_summary(report, seconds, top))
    if csv_file:
        try:
            with open(csv_file, "w", encoding="utf-8", newline="") as handle:
                written = preflight.write_csv(report, handle)
        except OSError as exc:
            raise click.ClickException(f"--csv: cannot write {csv_file}: {exc.strerror}") from None
        click.echo(f"\n{written:,} accounts to fix written to {csv_file}")
