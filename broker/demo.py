"""`make run`: prepare a local broker with the demo registry and show what it decides.

Creates ``instance/config.toml`` with random development secrets on first run, migrates the
SQLite database, loads ``examples/registry.csv`` (the diary accounts of the mock ESIA's test
persons) and switches ESIA login on in Moscow and the Moscow region. Then it decides for every
example person in ``examples/persons/`` and prints the outcomes and the commands to try next.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from broker import create_app, decisions, importer, regions, schema, services
from broker.extensions import db
from broker.models import Account
from providers import person_from_esia

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO_REGIONS = ("77", "50")


def ensure_dev_config(instance: Path) -> Path:
    """Write a development-only config with random secrets, once."""
    path = instance / "config.toml"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Development only: written by `make run` with random secrets. Never use in production.\n"
            f'SECRET_KEY = "{secrets.token_hex(32)}"\n'
            f'SNILS_HASH_KEY = "{secrets.token_hex(32)}"\n',
            encoding="utf-8",
        )
        path.chmod(0o600)
    return path


def main() -> None:
    config_path = ensure_dev_config(ROOT / "instance")
    app = create_app()
    with app.app_context():
        schema.upgrade()
        count = db.session.scalar(select(func.count()).select_from(Account)) or 0
        if count == 0:
            parser = importer.RowParser(
                regions=frozenset(r.code for r in regions.all_regions()),
                snils_key=services.current().snils_key,
                today=datetime.now(timezone.utc).date(),
            )
            db.session.commit()  # end the read transaction before the import's own
            with (EXAMPLES / "registry.csv").open(encoding="utf-8", newline="") as stream, db.engine.connect() as connection:
                report = importer.import_registry(connection, importer.read_rows(stream, "csv"), parser)
            count = report.written
            for code in DEMO_REGIONS:
                regions.set_enabled(code, True, "demo")
        enabled = [f"{r.code} {r.name}" for r in regions.all_regions() if r.enabled]
        print(f"Broker database: {app.config['SQLALCHEMY_DATABASE_URI']}")
        print(f"Config: {config_path.relative_to(ROOT)} (development secrets)")
        print(f"Registry: {count} diary accounts; ESIA login on in: {', '.join(enabled) or 'no region'}")
        print()
        print("What the broker decides today for each example ESIA person (examples/persons/):")
        now = datetime.now(timezone.utc)
        for path in sorted((EXAMPLES / "persons").glob("*.json")):
            person = person_from_esia(json.loads(path.read_text(encoding="utf-8")))
            codes = decisions.regions_of_accounts(person)
            decision = decisions.decide(person, codes[0] if codes else DEMO_REGIONS[0], now)
            verdict = decision.reason or decision.outcome
            ids = ", ".join(decision.account_ids)
            print(f"  {path.stem:<20} {verdict:<24} {ids}")
        db.session.remove()
    print()
    print("Next, try:")
    print("  .venv/bin/broker simulate --person examples/persons/teacher.json      # one person, two accounts")
    print("  .venv/bin/broker simulate --person examples/persons/yo.json --region 77  # ё in ESIA, е in the diary")
    print("  .venv/bin/broker regions enable 39 && .venv/bin/broker simulate --person examples/persons/other-region.json")
    print("  .venv/bin/broker regions list --enabled")
    print("  .venv/bin/broker registry import examples/registry.csv                # idempotent: run it twice")
    print("  .venv/bin/broker --help")


if __name__ == "__main__":
    main()
