"""The broker's side of the demo: a development instance with the demo registry, and what it decides.

``prepare`` creates ``config.toml`` with random development secrets on first run, migrates the
database, loads ``examples/registry.csv`` (the diary accounts of the mock ESIA's test persons)
once and switches ESIA login on in Moscow and the Moscow region. ``decide_examples`` decides for
every example person in ``examples/persons/`` against the current registry, writing nothing.
``make run`` (``examples/run_demo.py``) uses both before it starts the servers;
``python examples/demo.py`` does only this and prints the commands to try next.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from broker import create_app, services
from broker.db import revision
from broker.db.models import Account
from broker.extensions import db
from broker.login import decisions
from broker.regions import admin as regionadmin
from broker.regions import policies as regions
from broker.registry import importer
from providers import person_from_esia

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO_REGIONS = ("77", "50")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the broker decides today for one example person (``examples/persons/<name>.json``)."""

    name: str
    oid: str
    verdict: str  # the refusal reason, or the outcome (signed_in, linked, choose_account)
    account_ids: tuple[str, ...]


#: The regions' change in the audit log, as an operator reads it in «Последние изменения».
DEMO_COMMENT = "Демо: вход через Госуслуги включён для регионов демонстрационного портала"


def ensure_dev_config(instance: Path) -> Path:
    """Write a development-only config with random secrets, once; add a key a newer broker needs."""
    path = instance / "config.toml"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Development only: written by `make run` with random secrets. Never use in production.\n"
            f'SECRET_KEY = "{secrets.token_hex(32)}"\n'
            f'SNILS_HASH_KEY = "{secrets.token_hex(32)}"\n'
            f'OID_HASH_KEY = "{secrets.token_hex(32)}"\n',
            encoding="utf-8",
        )
        path.chmod(0o600)
        return path
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    if "OID_HASH_KEY" not in values:
        # A demo instance from before OID_HASH_KEY: its attempts' oid digests were made under
        # SECRET_KEY, which stays their fallback (config.example.toml, "Rotating keys").
        old = [values["SECRET_KEY"]] if values.get("SECRET_KEY") else []
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f'\nOID_HASH_KEY = "{secrets.token_hex(32)}"\nOID_HASH_KEY_FALLBACKS = {json.dumps(old)}\n')
    return path


def prepare() -> int:
    """Migrate, import the demo registry into an empty database, enable the demo regions.

    Returns how many diary accounts the registry holds. Call inside an app context.
    """
    revision.upgrade()
    count = db.session.scalar(select(func.count()).select_from(Account)) or 0
    if count == 0:
        parser = importer.RowParser(
            regions=frozenset(r.code for r in regions.all_regions()),
            snils_key=services.current().snils_key,
            today=datetime.now(UTC).date(),
        )
        db.session.commit()  # end the read transaction before the import's own
        with (EXAMPLES / "registry.csv").open(encoding="utf-8", newline="") as stream, db.engine.connect() as connection:
            # The demo registry is the project's own file: its two links are part of the demo.
            report = importer.import_registry(connection, importer.read_rows(stream, "csv"), parser, actor="demo", allow_links=True)
        count = report.written
        for code in DEMO_REGIONS:
            regionadmin.change_region(code, enabled=True, policy=None, comment=DEMO_COMMENT, actor_staff=None, actor="demo")
    return count


def decide_examples(at: datetime) -> list[Verdict]:
    """Decide for every example person in the region of their accounts. Call inside an app context."""
    verdicts = []
    for path in sorted((EXAMPLES / "persons").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        person = person_from_esia(data)
        codes = decisions.regions_of_accounts(person)
        decision = decisions.decide(person, codes[0] if codes else DEMO_REGIONS[0], at)
        verdict = decision.reason or decision.outcome
        verdicts.append(Verdict(path.stem, str(data["oid"]), str(verdict), tuple(decision.account_ids)))
    return verdicts


def report(app: Flask, config_path: Path) -> list[Verdict]:
    """Prepare the instance and print the database, the regions and the decision table."""
    with app.app_context():
        count = prepare()
        enabled = [f"{r.code} {r.name}" for r in regions.all_regions() if r.enabled]
        verdicts = decide_examples(datetime.now(UTC))
        db.session.remove()
        db.engine.dispose()
    shown = config_path.relative_to(ROOT) if config_path.is_relative_to(ROOT) else config_path
    print(f"Broker database: {app.config['SQLALCHEMY_DATABASE_URI']}")
    print(f"Config: {shown} (development secrets)")
    print(f"Registry: {count} diary accounts; ESIA login on in: {', '.join(enabled) or 'no region'}")
    print()
    print("What the broker decides today for each example ESIA person (examples/persons/):")
    for verdict in verdicts:
        print(f"  {verdict.name:<20} {verdict.verdict:<24} {', '.join(verdict.account_ids)}")
    return verdicts


def main() -> None:
    config_path = ensure_dev_config(ROOT / "instance")
    report(create_app(), config_path)
    print()
    print("Next, try:")
    print("  .venv/bin/broker simulate --person examples/persons/teacher.json      # one person, two accounts")
    print("  .venv/bin/broker simulate --person examples/persons/yo.json --region 77  # ё in ESIA, е in the diary")
    print("  .venv/bin/broker regions enable 39 --comment 'демо' && .venv/bin/broker simulate --person examples/persons/other-region.json")
    print("  .venv/bin/broker regions list --enabled")
    print("  .venv/bin/broker registry import examples/registry.csv                # idempotent: run it twice")
    print("  .venv/bin/broker --help")


if __name__ == "__main__":
    main()
