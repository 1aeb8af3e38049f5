"""The person's side of a login: ESIA's callback, the first-link confirmation and the account
chooser (the blueprint ``auth``)."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

import matching
from broker import services
from broker.login import invites
from broker.login import pending as login
from broker.oidc import sessions
from broker.web import cookies
from broker.extensions import db
from broker.db.models import Account, EsiaLink
from broker.oidc.views import complete_authorization, is_fresh_enough, login_required, render_error, render_refusal

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger(__name__)

ROLES_RU = {"student": "Ученик", "parent": "Родитель", "teacher": "Учитель", "staff": "Сотрудник"}
_PHONE = re.compile(r"\+?[0-9]{10,15}")
_PHONE_NOISE = re.compile(r"[\s()\-]")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}")
INVITE_STAGE = "invite_code"  # the stage of a first link waiting for the school's invite code


def _phone_digits(text: str) -> str:
    """A phone number without spaces, brackets and dashes (as typed, or as ESIA spells it)."""
    return _PHONE_NOISE.sub("", text)


def _binding() -> tuple[str | None, str | None]:
    """The pending login's state and the browser's secret, from the binding cookie."""
    value = cookies.read(login.BINDING_COOKIE) or ""
    state, _, binding = value.partition(".")
    return (state or None, binding or None)


def _csrf(binding: str) -> str:
    """The login pages' CSRF token: tied to the browser's binding, under a key of its own purpose."""
    return services.current().keyring.login_csrf.digest(binding)


def _csrf_sent(binding: str) -> bool:
    """Whether the form carries this browser's CSRF token (one made under a fallback key too)."""
    return services.current().keyring.login_csrf.verify(binding, request.form.get("csrf_token", ""))


@bp.get("/esia/callback")
def esia_callback() -> Any:
    """ESIA sends the browser back here with a code (or an error) and the state."""
    state, binding = _binding()
    pending = login.claim(request.args.get("state"), binding) if state == request.args.get("state") else None
    if pending is None:
        # Bad, expired, replayed or another browser's state: nothing is written, so that garbage
        # callbacks cannot fill the attempts table (kept for months); the person starts again.
        log.info("ESIA callback with a state that matches no pending login of this browser")
        return _expired()
    client = services.current().clients.get(pending.client_id)
    if client is None:  # the portal was unregistered while the person was at ESIA
        attempt = login.record(pending.client_id, pending.region, pending.created_at, pending.flow,
                               reason=matching.Reason.ESIA_ERROR, detail="client_unregistered")  # fmt: skip
        login.drop(pending)
        db.session.commit()
        return render_error(
            "Портал больше не обслуживается",
            "Портал, с которого начался вход, отключён от входа через Госуслуги. Вернитесь на портал дневника. "
            f"Код обращения: {attempt.reference}.",
            "client_unregistered",
            400,
        )
    finished = login.finish(pending, request.args.to_dict())
    decision = finished.decision
    if _older_than_asked(pending, finished):
        return _reauthentication_required(pending, finished, client)
    if login.is_waiting_for_invite(finished):  # the region asks for the school's code
        login.set_stage(pending, {**login.stage_data(finished), "outcome": INVITE_STAGE, "tries": 0,
                                  "reference": finished.attempt.reference})  # fmt: skip
        db.session.commit()
        return redirect(url_for("auth.invite"))
    if decision is None or finished.reason is not None:
        login.drop(pending)
        db.session.commit()
        return render_refusal(finished.reason or matching.Reason.ESIA_ERROR, finished.attempt.reference, client)
    if pending.link_account:
        return _finish_link(pending, finished)
    stage = login.stage_data(finished)
    if decision.outcome is matching.Outcome.SIGNED_IN:  # signed in now: the stage is never stored
        return _sign_in(dataclasses.replace(pending, stage=stage), decision.account_ids[0], record_account=False)
    login.set_stage(pending, stage)
    db.session.commit()
    if decision.outcome is matching.Outcome.CHOOSE_ACCOUNT:
        return redirect(url_for("auth.choose"))
    return redirect(url_for("auth.confirm"))


@bp.get("/link")
def link() -> Any:
    """The link flow's browser step: redeem the portal's ticket, then off to ESIA."""
    redeemed = login.redeem_link_ticket(request.args.get("state"), request.args.get("ticket"))
    if redeemed is None:
        return _expired()
    pending, binding = redeemed
    response = redirect(pending.portal_request["esia_url"])
    cookies.put(response, login.BINDING_COOKIE, f"{pending.state}.{binding}", current_app.config["PENDING_LOGIN_SECONDS"])
    return response


def _finish_link(pending: login.Pending, finished: login.Finished) -> Any:
    """Record the link the person proved, and go back to where the portal asked."""
    assert finished.decision is not None and finished.oid is not None
    account_id = finished.decision.account_ids[0]
    if login.link_accounts(finished.oid, [account_id], finished.tier, "link"):
        return _linked_meanwhile(pending)
    return_to = pending.portal_request["return_to"]
    login.drop(pending)
    db.session.commit()
    response = redirect(return_to + ("&" if "?" in return_to else "?") + urlencode({"linked": account_id}))
    cookies.forget(response, login.BINDING_COOKIE)
    return response


@bp.route("/choose", methods=["GET", "POST"])
def choose() -> Any:
    state, binding = _binding()
    pending = login.staged(state, binding)
    # Only a login the engine sent to the chooser: any other stage (one waiting for an invite
    # code, say) names accounts that must not be chosen from here.
    if pending is None or binding is None or pending.stage is None or pending.stage["outcome"] != str(matching.Outcome.CHOOSE_ACCOUNT):
        return _expired()
    stage = pending.stage
    accounts = [a for a in (db.session.get(Account, i) for i in stage["account_ids"]) if a is not None]
    if request.method == "POST":
        if not _csrf_sent(binding):
            return _expired()
        chosen = request.form.get("account_id")
        if chosen not in stage["account_ids"]:
            return render_template("auth/choose.html", accounts=accounts, roles=ROLES_RU, csrf_token=_csrf(binding),
                                   action=url_for("auth.choose")), 400
        account = db.session.get(Account, chosen)
        if account is not None and _linked_to(account.id, stage["oid"]):
            return _sign_in(pending, account.id)
        login.set_stage(pending, {**stage, "outcome": "linked", "account_ids": [chosen]})
        db.session.commit()
        return redirect(url_for("auth.confirm"))
    return render_template("auth/choose.html", accounts=accounts, roles=ROLES_RU, csrf_token=_csrf(binding),
                           action=url_for("auth.choose"))


@bp.route("/invite", methods=["GET", "POST"])
def invite() -> Any:
    """A child's first link in a region that asks for the school's one-time invite code.

    The code is checked against the accounts the decision named, single use; a few wrong codes per
    login (and per account and ESIA person over all their logins, or per account from everyone
    past a higher ceiling) end in ``invite_code_invalid``: the login's one attempt row, updated,
    with its reference code.
    """
    state, binding = _binding()
    pending = login.staged(state, binding)
    if pending is None or binding is None or pending.stage is None or pending.stage["outcome"] != INVITE_STAGE:
        return _expired()
    stage = pending.stage
    page = dict(csrf_token=_csrf(binding), action=url_for("auth.invite"))
    if request.method == "GET":
        return render_template("auth/invite.html", **page)
    if not _csrf_sent(binding):
        return _expired()
    # Take this try first, by compare-and-set on the stage: two submissions racing cannot both
    # count as the same try, and a wrong code cannot overwrite a stage a right one just moved on.
    tries = int(stage.get("tries", 0)) + 1
    taken = login.advance_stage(pending, {**stage, "tries": tries}, outcome=INVITE_STAGE, tries=tries - 1)
    if taken is None:
        db.session.rollback()
        return _resume(state, binding)
    redeemed = invites.redeem(stage["account_ids"], request.form.get("code", ""), reference=stage["reference"],
                              oid=stage["oid"])  # fmt: skip
    if redeemed.result is invites.Redeemed.RIGHT:
        # Checked, not spent: /auth/confirm spends it with the link, in one transaction.
        login.set_stage(taken, {**stage, "outcome": "linked", "account_ids": [redeemed.account_id],
                                "invite_id": redeemed.invite_id})  # our row: just taken  # fmt: skip
        db.session.commit()
        return redirect(url_for("auth.confirm"))
    if redeemed.result is invites.Redeemed.LOCKED or tries >= current_app.config["INVITE_MAX_TRIES_PER_LOGIN"]:
        detail = "invite_code_locked" if redeemed.result is invites.Redeemed.LOCKED else "invite_code_wrong"
        # The attempt that waited for the code ends here: one login, one attempt row (its reference).
        login.refuse_invited_attempt(stage["attempt_id"], detail)
        login.drop(pending)
        db.session.commit()  # the wrong code counts against the account and the person, with the refusal
        client = services.current().clients.get(pending.client_id)
        response = make_response(render_refusal(matching.Reason.INVITE_CODE_INVALID, stage["reference"], client))
        cookies.forget(response, login.BINDING_COOKIE)
        return response
    db.session.commit()
    left = int(current_app.config["INVITE_MAX_TRIES_PER_LOGIN"]) - tries
    problem = f"Код не подошёл. Проверьте его и введите ещё раз. Осталось попыток: {left}."
    return render_template("auth/invite.html", problem=problem, **page), 400


def _resume(state: str | None, binding: str | None) -> Any:
    """Another submission of this login's code page moved it on meanwhile: go where it now is."""
    pending = login.staged(state, binding)
    outcome = pending.stage.get("outcome") if pending is not None and pending.stage is not None else None
    if outcome == INVITE_STAGE:
        return redirect(url_for("auth.invite"))
    if outcome == "linked":
        return redirect(url_for("auth.confirm"))
    return _expired()


@bp.route("/confirm", methods=["GET", "POST"])
def confirm() -> Any:
    """The first link: show the diary's name and birth date, ask for a mobile phone and e-mail."""
    state, binding = _binding()
    pending = login.staged(state, binding)
    if pending is None or binding is None or pending.stage is None or pending.stage["outcome"] != "linked":
        return _expired()
    stage = pending.stage
    account = db.session.get(Account, stage["account_ids"][0])
    if account is None:
        return _expired()
    phone = request.form.get("phone", stage.get("mobile") or "").strip()
    email = request.form.get("email", stage.get("email") or "").strip()
    page = dict(account=account, phone=phone, email=email, csrf_token=_csrf(binding), action=url_for("auth.confirm"))
    if request.method == "GET":
        return render_template("auth/confirm.html", **page)
    if not _csrf_sent(binding):
        return _expired()
    digits = _phone_digits(phone)
    if not _PHONE.fullmatch(digits):
        return render_template("auth/confirm.html", problem="Укажите мобильный телефон: от 10 до 15 цифр.", **page), 400
    if not _EMAIL.fullmatch(email):
        return render_template("auth/confirm.html", problem="Укажите адрес электронной почты.", **page), 400
    if login.link_accounts(stage["oid"], [account.id], stage.get("tier"), "login"):
        return _linked_meanwhile(pending)
    if stage.get("invite_id") is not None:  # the school's code, spent with the link or not at all
        if not invites.spend(stage["invite_id"], account.id, reference=stage["reference"]):
            return _invite_spent_meanwhile(pending)
        login.settle_invited_attempt(stage["attempt_id"], account.id)
    claims = {
        "email": email,
        "email_verified": email == (stage.get("email") or ""),
        "phone_number": digits,
        "phone_number_verified": digits == _phone_digits(stage.get("mobile") or ""),
    }
    return _sign_in(pending, account.id, claims)


def _sign_in(
    pending: login.Pending, account_id: str, claims: dict[str, Any] | None = None, *, record_account: bool = True
) -> Any:
    """Create the diary session, hand the portal its code, forget the pending login: one commit."""
    stage = pending.stage or {}
    if claims is None:
        claims = {}
        if stage.get("email"):
            claims.update(email=stage["email"], email_verified=True)
        if stage.get("mobile"):
            claims.update(phone_number=_phone_digits(stage["mobile"]), phone_number_verified=True)
    live, token = sessions.create_session(
        account_id, tier=stage.get("tier") or "simplified", amr=stage.get("amr") or "PWD",
        attempt_id=stage.get("attempt_id"), claims=claims, auth_time=stage.get("auth_time"),
    )
    if record_account and stage.get("attempt_id"):
        login.set_attempt_account(stage["attempt_id"], account_id)  # the account entered (after a chooser, too)
    client = services.current().clients[pending.client_id]
    login.drop(pending)
    response = complete_authorization(client, dict(pending.portal_request), live, login_started=pending.created_at)
    db.session.commit()
    cookies.put(response, sessions.COOKIE, token, int(current_app.config["SESSION_SECONDS"]))
    cookies.forget(response, login.BINDING_COOKIE)
    return response


def _older_than_asked(pending: login.Pending, finished: login.Finished) -> bool:
    """Whether ESIA let the person in from an authentication older than the portal asked for
    (``prompt=login``, ``max_age``): its single sign-on may answer without asking again."""
    granted = finished.decision is not None and (finished.reason is None or login.is_waiting_for_invite(finished))
    if not granted or pending.link_account:
        return False
    now = datetime.now(timezone.utc).timestamp()
    authenticated = min(finished.auth_time if finished.auth_time is not None else now, now)
    return not is_fresh_enough(pending.portal_request, authenticated, pending.created_at)


def _reauthentication_required(pending: login.Pending, finished: login.Finished, client: Any) -> Any:
    """No session, no link: the attempt is refused (``reauthentication_required``) and the portal
    gets ``login_required`` (OIDC Core §3.1.2.1), so that it can ask the person to sign out of
    Gosuslugi, which is what a shared school computer needs."""
    check = matching.Check("auth_time", matching.CheckResult.FAIL,
                           "ESIA answered from an authentication older than the portal's prompt=login or max_age allows")  # fmt: skip
    login.refuse_attempt(finished.attempt.id, matching.Reason.REAUTHENTICATION_REQUIRED, "login_required", check)
    login.drop(pending)
    db.session.commit()
    response = make_response(login_required(client, dict(pending.portal_request)))
    cookies.forget(response, login.BINDING_COOKIE)
    return response


def _linked_meanwhile(pending: login.Pending) -> Any:
    """Another ESIA person linked the account between the decision and now: refuse, recorded."""
    db.session.rollback()  # nothing of this step is kept
    attempt_id = (pending.stage or {}).get("attempt_id")
    if attempt_id:  # recorded at ESIA's callback: that row ends refused (one login, one attempt)
        check = matching.Check("link", matching.CheckResult.FAIL, "another ESIA person linked the account meanwhile")
        login.refuse_attempt(attempt_id, matching.Reason.LINKED_ELSEWHERE, "linked_meanwhile", check)
        reference = login.reference_of(attempt_id)
    else:  # the link flow, straight from the callback: its attempt went with the rollback
        reference = login.record(pending.client_id, pending.region, pending.created_at, pending.flow,
                                 reason=matching.Reason.LINKED_ELSEWHERE, detail="linked_meanwhile").reference  # fmt: skip
    login.drop(pending)
    db.session.commit()
    client = services.current().clients.get(pending.client_id)
    response = make_response(render_refusal(matching.Reason.LINKED_ELSEWHERE, reference, client))
    cookies.forget(response, login.BINDING_COOKIE)
    return response


def _invite_spent_meanwhile(pending: login.Pending) -> Any:
    """The invite code was used by another login (or revoked) between the code page and now."""
    db.session.rollback()  # nothing of this step is kept: no link
    stage = pending.stage or {}
    login.refuse_invited_attempt(stage["attempt_id"], "invite_code_used_meanwhile")
    login.drop(pending)
    db.session.commit()
    client = services.current().clients.get(pending.client_id)
    response = make_response(render_refusal(matching.Reason.INVITE_CODE_INVALID, stage["reference"], client))
    cookies.forget(response, login.BINDING_COOKIE)
    return response


def _linked_to(account_id: str, oid: str) -> bool:
    link = db.session.get(EsiaLink, account_id)
    return link is not None and link.oid == oid


def _expired() -> Any:
    return render_error("Сеанс входа истёк", "Вернитесь на портал электронного дневника и начните вход заново.", None, 400)
