"""The support pages (the blueprint ``support``): find a login attempt, read why it ended as it
did, re-check it against today's registry, and see an account with its ESIA link.

Every staff role may use them within its scope (``broker.staff.access``): admins and support staff see
every region, operators their own. Only admins and the region's operators may unlink an
account; support staff see no button and get 403. Unlink takes two posts: the reason, which
answers with a confirmation page saying what the unlink will affect, then that page's
«Да, снять связь», which carries the link it showed (a link changed in between is not removed).

The pages speak Russian only (the words are in ``broker.support.glossary``; codes stay as they
are), and every time on them is Moscow time (``staff_time``), as on every staff page.

The search form is posted, never sent in the URL: its fields may hold a SNILS, an ESIA oid or a
diary login, which must not land in access logs, browser history or a Referer. The page never
repeats a typed SNILS or oid (a next page carries their keyed digests). Pages are not cached
and may not be framed (``access.staff_page_headers``); posts are CSRF-checked (``broker.web.csrf``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from broker.oidc import sessions
from broker.regions import policies as regions
from broker.staff import access
from broker.staff.access import staff_required
from broker.staff.accounts import Role
from broker.support import attempts, glossary, links, recheck
from broker.support import search as attemptsearch

bp = Blueprint("support", __name__, url_prefix="/support")
bp.after_request(access.staff_page_headers)

PER_PAGE = 50
ACCOUNT_ATTEMPTS = 20


MOSCOW = ZoneInfo("Europe/Moscow")


@bp.app_template_filter("zone_vs_moscow")
def zone_vs_moscow(zone: str | None, at: datetime) -> str:
    """A region's time zone as its offset from Moscow at ``at`` (``МСК+2``, ``МСК−1``, ``МСК``).

    Every time on the support pages is Moscow time, as on every staff page (the ``staff_time``
    filter); the region's offset lets staff turn it into the person's own time.
    """
    if not zone:
        return ""
    local, moscow = at.astimezone(ZoneInfo(zone)).utcoffset(), at.astimezone(MOSCOW).utcoffset()
    assert local is not None and moscow is not None  # aware times in a named zone
    minutes = int((local - moscow).total_seconds() // 60)
    if not minutes:
        return "МСК"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"МСК{sign}{hours}" + (f":{rest:02d}" if rest else "")


_CODE = re.compile(r"`([^`]+)`|(/api/[\w/]+|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b)")


@bp.app_template_filter("with_codes")
def with_codes(text: str) -> Markup:
    """Staff words with the codes they name (a setting, an API path, a `command`) set as code."""
    out, last = [], 0
    for found in _CODE.finditer(text):
        out += [escape(text[last : found.start()]), Markup('<span class="code">%s</span>') % (found.group(1) or found.group(2))]
        last = found.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _scope() -> frozenset[str] | None:
    member = access.current_staff()
    assert member is not None  # staff_required ran
    return access.visible_regions(member)


def _page_context() -> dict[str, Any]:
    """What every support page needs: region names and zones, the words for outcomes and reasons."""
    member = access.current_staff()
    assert member is not None
    scope = access.visible_regions(member)
    policies = regions.policies()
    return {
        "policies": policies,
        "region_choices": [p for code, p in sorted(policies.items()) if scope is None or code in scope],
        "outcomes": glossary.OUTCOME_RU,
        "reasons": glossary.REASON_RU,
        "tier_ru": glossary.TIER_RU,
        "role_ru": glossary.ROLE_RU,
        "status_ru": glossary.STATUS_RU,
        "gender_ru": glossary.GENDER_RU,
        "source_ru": glossary.SOURCE_RU,
        "result_ru": glossary.RESULT_RU,
        "unlink_ru": glossary.UNLINK_RU,
        "member": member,
    }


# --- search ------------------------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@staff_required()
def search() -> Any:
    scope = _scope()
    form = request.form if request.method == "POST" else {}
    values = {name: (form.get(name) or "").strip() for name in attemptsearch.FORM_FIELDS}
    shown = {key: value for key, value in values.items() if key not in ("snils", "oid", "snils_digest", "oid_digest")}
    before_id = _whole(form.get("before_id"))
    errors: dict[str, str] = {}
    found: attemptsearch.SearchPage | None = None
    criteria: attemptsearch.Criteria | None = None
    try:
        criteria = attemptsearch.parse_criteria(values)
        found = attemptsearch.search(criteria, regions=scope, limit=PER_PAGE, before_id=before_id)
    except attempts.CriteriaError as exc:
        errors = exc.why_ru_by_field()
    if found is not None and criteria is not None and criteria.is_reference_only and found.attempts:
        return redirect(url_for(".attempt", reference=found.attempts[0].reference))
    searched_by = {
        "snils": bool(values["snils"] or values["snils_digest"]),
        "oid": bool(values["oid"] or values["oid_digest"]),
    }
    return (
        render_template(
            "support/search.html",
            values=shown,
            errors=errors,
            found=found,
            searched=request.method == "POST",
            searched_by=searched_by,
            more_open=any(values[k] for k in attemptsearch.FORM_FIELDS if k != "reference") or bool(errors.keys() - {"reference"}),
            **_page_context(),
        ),
        400 if errors else 200,
    )


def _whole(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 19 else None


# --- one attempt -------------------------------------------------------------------------------


@bp.get("/attempts/<reference>")
@staff_required()
def attempt(reference: str) -> Any:
    scope = _scope()
    try:
        detail = attempts.get(reference, regions=scope)
    except attempts.CriteriaError as exc:
        return _not_found(exc.why_ru_by_field()["reference"])
    except attempts.AttemptNotFoundError as exc:
        return _not_found(exc.why_ru)
    if detail.attempt.reference != reference:  # typed by hand in another spelling
        again: dict[str, Any] = {"recheck": "1"} if request.args.get("recheck") else {}
        return redirect(url_for(".attempt", reference=detail.attempt.reference, **again))
    rechecked = None
    if request.args.get("recheck"):
        rechecked = recheck.decide_again(detail.attempt.reference, regions=scope)
    by_link = {"by_link_trace": glossary.BY_LINK_TRACE_RU, "by_link_snils": glossary.BY_LINK_SNILS_RU}
    return render_template("support/attempt.html", detail=detail, recheck=rechecked, **by_link, **_page_context())


def _not_found(message: str) -> Any:
    return render_template("error.html", title="Попытка входа не найдена", message=message, code="attempt_not_found"), 404


# --- accounts ----------------------------------------------------------------------------------


@bp.get("/accounts/<account_id>")
@staff_required()
def account(account_id: str) -> Any:
    return _account_page(account_id, errors={}, comment="")


def _account_page(account_id: str, *, errors: dict[str, str], comment: str, status: int = 200) -> Any:
    member = access.current_staff()
    assert member is not None
    try:
        card = links.account_card(account_id)
    except links.AccountNotFoundError as exc:
        return render_template("error.html", title="Аккаунт не найден", message=exc.why_ru, code=exc.code), 404
    if not access.can_view_region(member, card.region):
        abort(403)
    scope = access.visible_regions(member)
    found = attemptsearch.search(attemptsearch.Criteria(account=card.id), regions=scope, limit=ACCOUNT_ATTEMPTS).attempts
    among = attemptsearch.compared_among(card.id, card.region, regions=scope, limit=ACCOUNT_ATTEMPTS)
    recent = sorted({a.id: a for a in [*found, *among]}.values(), key=lambda a: (a.started_at, a.id), reverse=True)[:ACCOUNT_ATTEMPTS]
    return (
        render_template(
            "support/account.html",
            card=card,
            recent=recent,
            can_unlink=links.can_unlink(member, card.region),
            live_sessions=sessions.live_sessions(card.id) if card.link else 0,
            last_unlink=links.last_unlink(card.id),
            named_among_days=attemptsearch.NAMED_AMONG_DAYS,
            errors=errors,
            comment=comment,
            **_page_context(),
        ),
        status,
    )


@bp.post("/accounts/<account_id>/unlink")
@staff_required(Role.OPERATOR)
def unlink(account_id: str) -> Any:
    """Unlink in two steps: the reason posted from the account page asks for a confirmation that
    shows what the unlink will affect; that page's post (``confirm``, with the link it showed) unlinks."""
    member = access.current_staff()
    assert member is not None
    comment = request.form.get("comment", "")
    try:
        if request.form.get("confirm") != "1":
            return _confirm_page(account_id, member, comment)
        removed = links.unlink(account_id, comment=comment, by=member, expected=request.form.get("link") or "")
    except links.AccountNotFoundError as exc:
        return render_template("error.html", title="Аккаунт не найден", message=exc.why_ru, code=exc.code), 404
    except links.UnlinkForbiddenError:
        abort(403)
    except links.UnlinkError as exc:
        return _account_page(account_id, errors=exc.why_ru_by_field(), comment=comment[:1000], status=400)
    flash(
        Markup('Связь аккаунта <span class="code">%s</span> с учётной записью Госуслуг <span class="code">%s</span> снята. '
               "Действие записано в журнал.") % (account_id, removed.oid_masked)
    )  # fmt: skip
    return redirect(url_for(".account", account_id=account_id))


def _confirm_page(account_id: str, member: Any, comment: str) -> Any:
    """What the unlink will do, and the buttons to do it or go back (nothing is written)."""
    card = links.account_card(account_id)
    if not links.can_unlink(member, card.region):
        raise links.UnlinkForbiddenError()
    reason = links.checked_comment(comment)
    if card.link is None:
        raise links.UnlinkError("account", "the account has no ESIA link", glossary.UNLINK_RU["no_link"])
    return render_template("support/unlink.html", card=card, effects=links.unlink_effects(card), comment=reason, **_page_context())
