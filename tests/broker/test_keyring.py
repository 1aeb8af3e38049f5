"""One key, one job (``broker.keyring``): a key per purpose, rotation with fallbacks, the settings'
checks, support search and the re-check under old oid keys, and ``broker keys rehash-oids``."""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from broker import config, services
from broker.db.models import AuditEvent, InviteFailure, LoginAttempt
from broker.errors import ConfigError
from broker.extensions import db
from broker.keyring import Keyring, make_keyring
from broker.login import invites, pending
from broker.support import search as attemptsearch
from broker.support.recheck import decide_again
from examples import demo
from tests.broker.attemptdata import ALL, IVANOV, KID, TESTOV, attempt_for
from tests.broker.diaryaccounts import add_account
from tests.broker.staffing import StaffBrowser, make_staff
from tests.builders import make_person, make_snils

KEYS = {"SECRET_KEY": "secret-one", "OID_HASH_KEY": "oid-one"}


def hmac_hex(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def purposes(ring: Keyring) -> dict[str, Any]:
    return {"browser_binding": ring.browser_binding, "link_ticket": ring.link_ticket,
            "login_csrf": ring.login_csrf, "invite_code": ring.invite_code, "oid": ring.oid}  # fmt: skip


def restart(app: Flask, **settings: Any) -> None:
    """What a restart with changed settings does to the keys (the rest of the app is unchanged)."""
    app.config.update(settings)
    services.current().keyring = make_keyring(app.config)


# --- the keys --------------------------------------------------------------------------------


def test_each_purpose_makes_its_own_digest_of_the_same_value() -> None:
    ring = make_keyring(KEYS)
    digests = {name: keys.digest("same-value") for name, keys in purposes(ring).items()}
    assert len(set(digests.values())) == 5
    # Nor is any of them the HMAC under SECRET_KEY itself, which Flask's cookies use.
    assert hmac_hex("secret-one", "same-value") not in digests.values()


def test_a_digest_of_one_purpose_is_refused_by_another() -> None:
    ring = make_keyring(KEYS)
    ticket_digest = ring.link_ticket.digest("value")
    assert ring.link_ticket.verify("value", ticket_digest)
    assert not ring.browser_binding.verify("value", ticket_digest)
    assert not ring.login_csrf.verify("value", ticket_digest)


def test_rotating_secret_key_changes_the_short_lived_keys_but_never_the_oid_key() -> None:
    before, after = make_keyring(KEYS), make_keyring({**KEYS, "SECRET_KEY": "secret-two"})
    assert after.oid.digest("1000300005") == before.oid.digest("1000300005")
    assert not after.browser_binding.verify("binding", before.browser_binding.digest("binding"))


def test_an_old_secret_in_the_fallbacks_is_accepted_but_never_signs() -> None:
    before = make_keyring(KEYS)
    rotated = make_keyring({**KEYS, "SECRET_KEY": "secret-two", "SECRET_KEY_FALLBACKS": ["secret-one"]})
    fresh = make_keyring({**KEYS, "SECRET_KEY": "secret-two"})
    for name in ("browser_binding", "link_ticket", "login_csrf", "invite_code"):
        old, new = purposes(before)[name], purposes(rotated)[name]
        assert new.verify("value", old.digest("value")), name
        assert new.digest("value") == purposes(fresh)[name].digest("value") != old.digest("value")
    assert not rotated.browser_binding.verify("value", "0" * 64)


def test_a_key_never_shows_in_a_repr() -> None:
    assert "oid-one" not in repr(make_keyring(KEYS)) and "secret-one" not in repr(make_keyring(KEYS))


# --- the settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SECRET_KEY_FALLBACKS", "OID_HASH_KEY_FALLBACKS"])
def test_fallbacks_given_as_one_string_are_refused(name: str) -> None:
    """Flask would read a string letter by letter: every one-letter key would sign session cookies."""
    with pytest.raises(ConfigError, match=f"{name} must be a list"):
        config.validate({"TESTING": True, **KEYS, name: "old-secret"})
    with pytest.raises(ConfigError, match=f"{name} must be a list"):
        config.validate({"TESTING": True, **KEYS, name: [""]})


@pytest.mark.parametrize(
    ("first", "second"),
    [("SECRET_KEY", "OID_HASH_KEY"), ("SECRET_KEY", "SNILS_HASH_KEY"), ("SNILS_HASH_KEY", "OID_HASH_KEY")],
)
def test_no_secret_may_serve_two_settings(first: str, second: str) -> None:
    settings = {"SECRET_KEY": "a-secret", "SNILS_HASH_KEY": "b-secret", "OID_HASH_KEY": "c-secret", first: "shared-1", second: "shared-1"}
    with pytest.raises(ConfigError, match="the same key") as caught:
        config.validate(settings)
    assert "shared-1" not in str(caught.value)


def test_outside_tests_the_oid_key_is_required_and_the_error_says_how_to_upgrade() -> None:
    with pytest.raises(ConfigError) as caught:
        config.validate({"SECRET_KEY": "a-secret", "SNILS_HASH_KEY": "b-secret"})
    message = str(caught.value)
    assert "OID_HASH_KEY" in message and "OID_HASH_KEY_FALLBACKS" in message and "broker keys rehash-oids" in message
    assert "a-secret" not in message
    with pytest.raises(ConfigError, match="OID_HASH_KEY is not set"):
        make_keyring({"SECRET_KEY": "a-secret"})


def test_the_old_secret_key_may_stay_an_oid_fallback() -> None:
    """The upgrade path: the oid digests stored so far were made under SECRET_KEY."""
    config.validate({"SECRET_KEY": "a-secret", "SNILS_HASH_KEY": "b-secret", "OID_HASH_KEY": "c-secret",
                     "OID_HASH_KEY_FALLBACKS": ["a-secret"]})  # fmt: skip
    ring = make_keyring({"SECRET_KEY": "a-secret", "OID_HASH_KEY": "c-secret", "OID_HASH_KEY_FALLBACKS": ["a-secret"]})
    assert ring.oid.verify("1000", hmac_hex("a-secret", "1000"))  # the digest the old broker stored


# --- support search, re-check and re-keying under old oid keys ---------------------------------


def oid_digests_of(oid: str) -> set[str]:
    attempts = db.session.scalars(select(LoginAttempt).where(LoginAttempt.oid_digest.is_not(None))).all()
    return {a.oid_digest for a in attempts if a.oid_digest in {hmac_hex(k, oid) for k in ("oid-old", "oid-new")}}


def found_by_oid(oid: str, **kwargs: Any) -> list[str]:
    return [row.reference for row in attemptsearch.search(attemptsearch.Criteria(oid=oid), regions=ALL, **kwargs).attempts]


def test_support_finds_an_oid_under_every_key_and_on_every_page(attempts_registry: Flask) -> None:
    restart(attempts_registry, OID_HASH_KEY="oid-old")
    old = [attempt_for(TESTOV, "77").reference for _ in range(2)]
    restart(attempts_registry, OID_HASH_KEY="oid-new", OID_HASH_KEY_FALLBACKS=["oid-old"])
    new = attempt_for(TESTOV, "77").reference
    assert sorted(found_by_oid(str(TESTOV.oid))) == sorted([*old, new])

    first = attemptsearch.search(attemptsearch.Criteria(oid=str(TESTOV.oid)), regions=ALL, limit=1)
    seen = [a.reference for a in first.attempts]
    page = first
    while page.next_before_id is not None:  # the next pages carry the digests, never the oid
        criteria = attemptsearch.parse_criteria({"oid_digest": first.oid_digest or ""})
        page = attemptsearch.search(criteria, regions=ALL, limit=1, before_id=page.next_before_id)
        seen += [a.reference for a in page.attempts]
    assert sorted(seen) == sorted([*old, new])


def test_support_finds_an_accounts_attempts_through_its_link_under_an_old_oid_key(attempts_registry: Flask) -> None:
    restart(attempts_registry, OID_HASH_KEY="oid-old")
    # The linked person, with a SNILS and a name the diary does not know: found by the link alone.
    stray = attempt_for(make_person(oid=TESTOV.oid, last_name="Чужой", snils=make_snils(556677889)), "77")
    pending.link_accounts(str(TESTOV.oid), ["acc-1"], "verified", "login")
    db.session.commit()
    restart(attempts_registry, OID_HASH_KEY="oid-new", OID_HASH_KEY_FALLBACKS=["oid-old"])
    by_account = attemptsearch.search(attemptsearch.Criteria(account="acc-1"), regions=ALL).attempts
    assert stray.reference in {a.reference for a in by_account}


def test_the_recheck_knows_the_linked_person_under_an_old_oid_key(attempts_registry: Flask) -> None:
    restart(attempts_registry, OID_HASH_KEY="oid-old")
    attempt = attempt_for(KID, "50")
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")
    db.session.commit()
    restart(attempts_registry, OID_HASH_KEY="oid-new", OID_HASH_KEY_FALLBACKS=["oid-old"])
    link = next(f for f in decide_again(attempt.reference, regions=ALL).facts if f.topic == "link")
    assert link.now_ru.endswith("этого человека.")


def rehash(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["keys", "rehash-oids", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_rehash_moves_the_linked_persons_digests_to_the_current_key_and_is_audited(attempts_registry: Flask) -> None:
    restart(attempts_registry, OID_HASH_KEY="oid-old")
    linked = [attempt_for(TESTOV, "77").reference, attempt_for(KID, "50").reference]
    unlinked = attempt_for(IVANOV, "77").reference  # never linked: the broker has no oid in clear for it
    pending.link_accounts(str(TESTOV.oid), ["acc-1", "acc-2"], "verified", "login")
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")
    # A wrong invite code the child typed before the link, and one of a person never linked.
    at = services.current().clock()
    db.session.add(InviteFailure(account_id="acc-4", person_digest=hmac_hex("oid-old", str(KID.oid)), at=at))
    db.session.add(InviteFailure(account_id="acc-4", person_digest=hmac_hex("oid-old", str(IVANOV.oid)), at=at))
    db.session.commit()
    restart(attempts_registry, OID_HASH_KEY="oid-new", OID_HASH_KEY_FALLBACKS=["oid-old"])

    assert "2 attempts and 1 wrong invite codes would move" in rehash(attempts_registry, "--dry-run")
    assert oid_digests_of(str(TESTOV.oid)) == {hmac_hex("oid-old", str(TESTOV.oid))}
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "oid_digests_rehashed")).all() == []

    output = rehash(attempts_registry, "--batch-size", "1")
    assert "2 linked oids: 2 attempts and 1 wrong invite codes moved" in output
    assert oid_digests_of(str(TESTOV.oid)) == {hmac_hex("oid-new", str(TESTOV.oid))}
    assert oid_digests_of(str(KID.oid)) == {hmac_hex("oid-new", str(KID.oid))}
    assert oid_digests_of(str(IVANOV.oid)) == {hmac_hex("oid-old", str(IVANOV.oid))}
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "oid_digests_rehashed")).one()
    assert event.actor.startswith("cli:")
    assert event.after == {"linked_oids": 2, "attempts_rekeyed": 2, "invite_failures_rekeyed": 1, "fallback_keys": 1}
    assert set(db.session.scalars(select(InviteFailure.person_digest))) == {
        hmac_hex("oid-new", str(KID.oid)),
        hmac_hex("oid-old", str(IVANOV.oid)),  # never linked: counted under the fallback within its window
    }

    assert "0 attempts and 0 wrong invite codes moved" in rehash(attempts_registry)  # idempotent
    # Once the fallback is dropped, the linked persons' attempts are still found; the others
    # only until retention deletes them, which is why the fallback stays until then.
    restart(attempts_registry, OID_HASH_KEY_FALLBACKS=[])
    assert found_by_oid(str(TESTOV.oid)) == [linked[0]]
    assert found_by_oid(str(KID.oid)) == [linked[1]]
    assert found_by_oid(str(IVANOV.oid)) == []
    restart(attempts_registry, OID_HASH_KEY_FALLBACKS=["oid-old"])
    assert found_by_oid(str(IVANOV.oid)) == [unlinked]


def test_rehash_without_fallbacks_has_nothing_to_do(attempts_registry: Flask) -> None:
    restart(attempts_registry, OID_HASH_KEY="oid-new", OID_HASH_KEY_FALLBACKS=[])
    assert "OID_HASH_KEY_FALLBACKS is empty" in rehash(attempts_registry)


def test_staff_stay_signed_in_across_a_rotation_only_with_the_old_secret_in_the_fallbacks(app: Flask, browser: StaffBrowser) -> None:
    make_staff()
    browser.login()
    assert browser.get("/admin/").status_code == 200
    restart(app, SECRET_KEY="rotated-secret", SECRET_KEY_FALLBACKS=["test-secret"])
    assert browser.get("/admin/").status_code == 200
    restart(app, SECRET_KEY_FALLBACKS=[])
    assert browser.get("/admin/").status_code == 302


def test_the_demo_writes_three_distinct_keys_and_adds_the_oid_key_to_an_older_demo_config(tmp_path: Path) -> None:
    written = tomllib.loads(demo.ensure_dev_config(tmp_path / "new").read_text(encoding="utf-8"))
    config.validate(written)
    assert len({written["SECRET_KEY"], written["SNILS_HASH_KEY"], written["OID_HASH_KEY"]}) == 3
    older = tmp_path / "old"
    older.mkdir()
    (older / "config.toml").write_text('SECRET_KEY = "old-secret"\nSNILS_HASH_KEY = "old-snils"\n', encoding="utf-8")
    upgraded = tomllib.loads(demo.ensure_dev_config(older).read_text(encoding="utf-8"))
    config.validate(upgraded)
    assert upgraded["OID_HASH_KEY_FALLBACKS"] == ["old-secret"]  # the key its stored oid digests were made under
    assert demo.ensure_dev_config(older).read_text(encoding="utf-8").count("OID_HASH_KEY =") == 1


def test_an_invite_code_issued_before_a_rotation_is_taken_after_it_only_with_the_old_secret(app: Flask) -> None:
    add_account("kid-77")
    kept = invites.issue("kid-77", days=30, actor_staff=None, actor="cli:school")
    restart(app, SECRET_KEY="rotated-secret", SECRET_KEY_FALLBACKS=["test-secret"])
    assert invites.redeem(["kid-77"], kept.code, reference="REF1-0001", oid="esia-oid-parent").result is invites.Redeemed.RIGHT
    lost = invites.issue("kid-77", days=30, actor_staff=None, actor="cli:school")
    restart(app, SECRET_KEY="third-secret", SECRET_KEY_FALLBACKS=[])
    assert invites.redeem(["kid-77"], lost.code, reference="REF1-0002", oid="esia-oid-parent").result is invites.Redeemed.WRONG
