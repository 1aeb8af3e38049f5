"""The staff pages (the blueprint ``admin``): sign in and out, the start page, staff accounts
(with an admin setting a colleague's password), API tokens, one's own password, and the audit log.

Every form post is CSRF-checked (``broker.web.csrf``) before its view runs. Every page is sent with
``Cache-Control: no-store`` (they show personal data, and a new API token once) and may not be
framed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from broker.regions import policies as regions
from broker.staff import access, audit
from broker.staff import accounts as staff
from broker.staff import sessions as staffsessions
from broker.staff import tokens as apitokens
from broker.staff.access import staff_required
from broker.staff.accounts import Role, StaffInputError

bp = Blueprint("admin", __name__, url_prefix="/admin")

LOGIN_PROBLEM = (
    "Неверный логин или пароль. После нескольких неудачных попыток подряд вход временно "
    "блокируется: тогда повторите попытку позже или обратитесь к администратору."
)
PER_PAGE = 50
MOSCOW = ZoneInfo("Europe/Moscow")


bp.after_request(access.staff_page_headers)


@bp.app_template_filter("staff_time")
def staff_time(value: datetime | None) -> str:
    """A timestamp for staff pages: Moscow time, to the minute."""
    if value is None:
        return "—"
    return value.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M МСК")


@bp.app_template_filter("audit_json")
def audit_json(value: Any) -> str:
    """An audit event's before/after as compact JSON, Cyrillic left readable."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


bp.add_app_template_global(access.current_staff, "current_staff")
# Flask types a template global as a callable; Jinja takes any value, here a dict of labels.
bp.add_app_template_global(staff.ROLE_LABELS_RU, "ROLE_LABELS_RU")  # type: ignore[arg-type]


# --- signing in and out ------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _local_path(request.values.get("next"))
    if request.method == "GET":
        if access.current_staff() is not None:
            return redirect(next_url or url_for(".home"))
        return render_template("admin/login.html", next=next_url)
    typed = request.form.get("login", "")
    member = staff.authenticate(typed, request.form.get("password", ""), source=request.remote_addr)
    if member is None:
        return render_template("admin/login.html", next=next_url, login=typed[:64], problem=LOGIN_PROBLEM)
    staffsessions.start(member)
    return redirect(next_url or url_for(".home"))


@bp.post("/logout")
def logout() -> Any:
    staffsessions.end_current()
    flash("Вы вышли из кабинета.")
    return redirect(url_for(".login"))


def _local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, host or backslash), else None."""
    if not target or "\\" in target or not target.isprintable():
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# --- the start page ----------------------------------------------------------------------------


@bp.get("/")
@staff_required()
def home() -> Any:
    member = access.current_staff()
    assert member is not None
    every = regions.all_regions()
    scope = access.visible_regions(member)
    mine = [region for region in every if scope is not None and region.code in scope]
    return render_template(
        "admin/home.html",
        member=member,
        my_regions=mine,
        enabled_count=sum(1 for region in every if region.enabled),
        region_count=len(every),
    )


# --- staff -------------------------------------------------------------------------------------


@bp.get("/staff")
@staff_required(Role.ADMIN)
def staff_list() -> Any:
    return render_template("admin/staff_list.html", members=staff.all_staff(), is_locked=staff.is_locked)


@bp.route("/staff/new", methods=["GET", "POST"])
@staff_required(Role.ADMIN)
def staff_new() -> Any:
    form = request.form
    if request.method == "GET":
        return render_template("admin/staff_form.html", member=None, values={}, errors={})
    try:
        if form.get("password", "") != form.get("password2", ""):
            raise StaffInputError("password2", "the passwords differ", "Пароли не совпадают.")
        member = staff.create_staff(
            form.get("login", ""),
            role=form.get("role", ""),
            password=form.get("password", ""),
            name=form.get("name", ""),
            regions=[form.get("regions", "")],
        )
    except StaffInputError as exc:
        values = {key: form.get(key, "") for key in ("login", "name", "role", "regions")}
        return render_template("admin/staff_form.html", member=None, values=values, errors=exc.why_ru_by_field()), 400
    flash(f"Сотрудник {member.login} добавлен.")
    return redirect(url_for(".staff_edit", login=member.login))


@bp.route("/staff/<login>", methods=["GET", "POST"])
@staff_required(Role.ADMIN)
def staff_edit(login: str) -> Any:
    member = staff.find_staff(login) or abort(404)
    if request.method == "POST":
        form = request.form
        try:
            staff.change_staff(
                member,
                role=form.get("role", ""),
                regions=[form.get("regions", "")],
                name=form.get("name", ""),
                by=access.current_staff(),
            )
        except StaffInputError as exc:
            values = {key: form.get(key, "") for key in ("name", "role", "regions")}
            return _staff_page(member, values, exc.why_ru_by_field()), 400
        flash("Изменения сохранены.")
        return redirect(url_for(".staff_edit", login=member.login))
    return _staff_page(member, None, {})


@bp.post("/staff/<login>/disable")
@staff_required(Role.ADMIN)
def staff_disable(login: str) -> Any:
    member = staff.find_staff(login) or abort(404)
    try:
        staff.disable_staff(member, by=access.current_staff())
    except StaffInputError as exc:
        return _staff_page(member, None, exc.why_ru_by_field()), 400
    flash(f"Сотрудник {member.login} отключён: его сеансы завершены, токены API не действуют.")
    return redirect(url_for(".staff_edit", login=member.login))


@bp.post("/staff/<login>/enable")
@staff_required(Role.ADMIN)
def staff_enable(login: str) -> Any:
    member = staff.find_staff(login) or abort(404)
    staff.enable_staff(member)
    flash(f"Сотрудник {member.login} снова допущен.")
    return redirect(url_for(".staff_edit", login=member.login))


@bp.post("/staff/<login>/password")
@staff_required(Role.ADMIN)
def staff_password(login: str) -> Any:
    """Set a colleague's password (typed twice): unlocks them and ends every session of theirs."""
    member = staff.find_staff(login) or abort(404)
    form = request.form
    try:
        staff.set_password(member, form.get("password", ""), repeated=form.get("password2", ""), by=access.current_staff())
    except StaffInputError as exc:
        return _staff_page(member, None, exc.why_ru_by_field()), 400
    flash(
        f"Новый пароль сотрудника {member.login} задан: все его сеансы завершены, блокировка входа снята. "
        "Передайте пароль сотруднику лично."
    )
    return redirect(url_for(".staff_edit", login=member.login))


def _staff_page(member: Any, values: dict[str, str] | None, errors: dict[str, str]) -> str:
    if values is None:
        values = {"name": member.name, "role": member.role, "regions": ", ".join(member.regions or [])}
    me = access.current_staff()
    return render_template(
        "admin/staff_form.html",
        member=member,
        is_self=me is not None and me.id == member.id,
        values=values,
        errors=errors,
        tokens=apitokens.tokens_of(member),
        is_live=apitokens.is_live,
        is_locked=staff.is_locked,
    )


# --- API tokens --------------------------------------------------------------------------------


@bp.route("/tokens", methods=["GET", "POST"])
@staff_required()
def tokens() -> Any:
    member = access.current_staff()
    assert member is not None
    created = None
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            days = _whole_number(request.form.get("days", ""))
            created = apitokens.create_token(member, name=request.form.get("name", ""), days=days)
        except StaffInputError as exc:
            errors, status = exc.why_ru_by_field(), 400
    return (
        render_template(
            "admin/tokens.html",
            tokens=apitokens.tokens_of(member),
            created=created,
            errors=errors,
            values=request.form if errors else {},
            is_live=apitokens.is_live,
        ),
        status,
    )


@bp.post("/tokens/<int:token_id>/revoke")
@staff_required()
def token_revoke(token_id: int) -> Any:
    member = access.current_staff()
    token = apitokens.find_token(token_id) or abort(404)
    assert member is not None
    if token.staff_id != member.id and not access.can_manage_staff(member):
        abort(403)
    apitokens.revoke_token(token)
    flash(f"Токен {token.prefix}… отозван.")
    if token.staff_id == member.id:
        return redirect(url_for(".tokens"))
    owner = staff.find_staff_by_id(token.staff_id)
    return redirect(url_for(".staff_edit", login=owner.login) if owner else url_for(".staff_list"))


def _whole_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise StaffInputError("days", "a whole number of days", "Срок действия — целое число дней.") from None


# --- one's own password ------------------------------------------------------------------------


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
def password() -> Any:
    member = access.current_staff()
    assert member is not None
    if request.method == "GET":
        return render_template("admin/password.html", errors={})
    form = request.form
    try:
        if form.get("password", "") != form.get("password2", ""):
            raise StaffInputError("password2", "the passwords differ", "Новые пароли не совпадают.")
        if not staff.change_own_password(member, form.get("current", ""), form.get("password", "")):
            raise StaffInputError("current", "wrong password", "Текущий пароль введён неверно.")
    except StaffInputError as exc:
        return render_template("admin/password.html", errors=exc.why_ru_by_field()), 400
    # A new password ends every session of the member, this one too: sign in again.
    staffsessions.end_current()
    flash("Пароль изменён. Войдите с новым паролем.")
    return redirect(url_for(".login"))


# --- the audit log -----------------------------------------------------------------------------


@bp.get("/audit")
@staff_required(Role.ADMIN)
def audit_log() -> Any:
    action = request.args.get("action", "")
    action = action if action in audit.LABELS_RU else ""
    actor = request.args.get("actor", "").strip()[:128]
    page = request.args.get("page", "1")
    page_number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    found = audit.find_events(action=action or None, actor=actor or None, page=page_number, per_page=PER_PAGE)
    return render_template("admin/audit.html", found=found, action=action, actor=actor, labels=audit.LABELS_RU)
