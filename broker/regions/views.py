"""The region pages (the blueprint ``regions``): the regions a staff member may see, and a region's
page with its login figures (success rate, SVG charts by outcome and reason, the hourly and daily
trend, tables), its ESIA switch and policy overrides, and its changes.

Everyone on staff may open the pages of the regions they see; only the region's operators and
admins get (and may post) the form. Switching a region off is asked again first, with what it
affects; the change is written only when that second form is sent. The rules live in
:mod:`broker.regions.admin`; this module only parses the form and renders.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

import matching
from broker import services
from broker.regions import admin as regionadmin
from broker.regions import charts, trends
from broker.regions.admin import PolicyField, RegionInputError, SwitchOffUnconfirmedError
from broker.regions.charts import Bar
from broker.staff import access
from broker.staff.access import staff_required
from broker.support import glossary

bp = Blueprint("regions", __name__, url_prefix="/regions")
bp.after_request(access.staff_page_headers)

_CODE = re.compile(r"[0-9]{2}")
POLICY_PREFIX = "policy."

#: What each policy override means, for the operator: a label and a hint, in words only (an
#: override without words here is shown by its name, the one case a page shows a setting's key).
POLICY_RU: dict[str, tuple[str, str]] = {
    "auto_link_under_14": (
        "Первая привязка детей младше 14 лет при входе через Госуслуги",
        "«Да» (по общим правилам) — аккаунт ребёнка младше 14 лет связывается с Госуслугами при первом "
        "входе, если совпали ФИО и дата рождения. «Нет» — первую привязку делают только в дневнике, "
        "войдя по логину и паролю («Привязать аккаунт портала Госуслуги»); до этого вход через "
        "Госуслуги отклоняется с причиной «до 14 лет первая привязка только из дневника». "
        "Уже привязанные аккаунты и взрослых это не затрагивает.",
    ),
    "under_14_first_link": (
        "Как делать первую привязку детей младше 14 лет при входе через Госуслуги",
        "«По совпадению ФИО и даты рождения» (по общим правилам) или «ещё и по коду приглашения от школы»: "
        "школа выдаёт семье одноразовый код, сотрудники выпускают коды через API или командной строкой; "
        "до ввода кода вход отклоняется с причиной «до 14 лет первая привязка по коду приглашения от школы». "
        "Если первая привязка детей при входе выключена (предыдущая настройка — «нет»), действует она, "
        "и код не спрашивается.",
    ),
}
#: The operator's words for a choice override's values, by override (a value without words is shown as it is).
CHOICES_RU: dict[str, dict[str, str]] = {
    "under_14_first_link": {
        "auto": "по совпадению ФИО и даты рождения",
        "invite_code": "ещё и по коду приглашения от школы",
    },
}


def policy_label(name: str) -> str:
    """An override's label for the operator (its name only if it has no words)."""
    words = POLICY_RU.get(name)
    return words[0] if words else name


def policy_value_ru(name: str, value: Any) -> str:
    """An override's value in the operator's words: «да»/«нет», a choice's words, else the value."""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if value is None:
        return "по общим правилам"
    return CHOICES_RU.get(name, {}).get(str(value), str(value))


def outcome_ru(outcome: str) -> str:
    """The staff label of an outcome (the support search's words), as a table row starts it."""
    label: str = glossary.OUTCOME_RU.get(outcome, outcome)  # type: ignore[call-overload]
    return label[:1].upper() + label[1:]


def reason_ru(reason: str | None) -> str:
    """The staff label of a refusal reason (the same words as the support search)."""
    return glossary.REASON_RU.get(reason, "") if reason else ""  # type: ignore[call-overload]


def of_attempts(count: int) -> str:
    """«из N попытки» for 1, 21, 31…, «из N попыток» otherwise."""
    return "попытки" if count % 10 == 1 and count % 100 != 11 else "попыток"


def describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A region change from its audit event, in words: the switch and each override changed."""
    before, after = before or {}, after or {}
    parts = []
    if before.get("enabled") != after.get("enabled"):
        parts.append("вход через Госуслуги " + ("включён" if after.get("enabled") else "выключен"))
    old, new = before.get("policy") or {}, after.get("policy") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            shown = policy_value_ru(name, new[name]) if name in new else "по общим правилам"
            parts.append(f"{policy_label(name)}: {shown}")
    return "; ".join(parts) or "—"


@bp.get("/")
@staff_required()
def region_list() -> Any:
    member = access.current_staff()
    assert member is not None
    found = regionadmin.list_regions(member)
    return render_template("regions/list.html", regions=found, enabled_count=sum(1 for r in found if r.enabled))


@bp.route("/<code>", methods=["GET", "POST"])
@staff_required()
def region_page(code: str) -> Any:
    if not _CODE.fullmatch(code):
        return _not_found(code)
    member = access.require_region(code, manage=request.method == "POST")
    try:
        region = regionadmin.region_view(code, member)
    except regionadmin.RegionNotFoundError:
        return _not_found(code)
    if request.method == "GET":
        return _page(region, values=None, errors={})
    form = request.form
    policy = policy_from_form(form) if _has_policy(form) else None
    try:
        change = regionadmin.change_region(
            code,
            enabled=_enabled(form.get("enabled", "")),
            policy=policy,
            comment=form.get("comment", ""),
            actor_staff=member,
            # Only the confirmation form sends this; the edit form alone never switches a region off.
            confirm_switch_off=form.get(CONFIRM_FIELD) == CONFIRM_VALUE,
        )
    except RegionInputError as exc:
        return _page(region, values=form, errors=exc.why_ru_by_field()), 400
    except SwitchOffUnconfirmedError as exc:
        return _confirm_switch_off(region, form, exc)
    if not change.changed:
        flash("Ничего не изменилось: регион уже в этом состоянии. Изменение не записано.")
    else:
        state = "включён" if change.region.enabled else "выключен"
        flash(f"Сохранено. Вход через Госуслуги в регионе {code} {state}. {takes_effect()}")
    return redirect(url_for(".region_page", code=code))


CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "switch_off"


def takes_effect() -> str:
    """When new logins see a saved change, in words (every broker process re-reads the regions
    within the cache's lifetime; the one that saved it at once)."""
    seconds = float(current_app.config["REGION_CACHE_SECONDS"])
    if seconds <= 0:
        return "Новые попытки входа видят изменение сразу."
    return f"Новые попытки входа видят изменение не позже чем через {seconds:g} с."


def _confirm_switch_off(region: regionadmin.RegionView, form: MultiDict[str, str], asked: SwitchOffUnconfirmedError) -> str:
    """The page that asks before switching a region off: what it affects, the same form again."""
    impact = regionadmin.switch_off_impact(region.code, now=services.current().clock())
    kept = [(name, value) for name, value in form.items(multi=True) if name not in ("csrf_token", CONFIRM_FIELD)]
    return render_template(
        "regions/confirm_off.html",
        region=region,
        impact=impact,
        change=describe_change(asked.before, asked.after),
        comment=form.get("comment", "").strip(),
        kept=kept,
        confirm_field=CONFIRM_FIELD,
        confirm_value=CONFIRM_VALUE,
        takes_effect=takes_effect(),
    )


def _page(region: regionadmin.RegionView, *, values: MultiDict[str, str] | None, errors: dict[str, str]) -> str:
    now = services.current().clock()
    figures = regionadmin.figures(region.code, now=now)
    hourly, daily = trends.trends(region.code, now=now)
    fields = regionadmin.policy_fields()
    if values is None:
        values = MultiDict({"enabled": "on" if region.enabled else "off"})
        values.update({POLICY_PREFIX + name: _form_value(value) for name, value in region.policy.items()})
    return render_template(
        "regions/region.html",
        region=region,
        fields=fields,
        values=values,
        errors=errors,
        summary=error_summary(errors, fields),
        figures=figures,
        day_bars=charts.lay_out_bars(bar_items(figures, "day")),
        week_bars=charts.lay_out_bars(bar_items(figures, "week")),
        hourly=charts.lay_out_trend(hourly),
        daily=charts.lay_out_trend(daily),
        outcomes=trends.OUTCOMES,
        successes=[glossary.OUTCOME_RU[outcome] for outcome in trends.SUCCESSES],
        history=regionadmin.history(region.code),
        takes_effect=takes_effect(),
        of_attempts=of_attempts,
        prefix=POLICY_PREFIX,
        policy_ru=POLICY_RU,
        choices_ru=CHOICES_RU,
        policy_label=policy_label,
        policy_value_ru=policy_value_ru,
        outcome_ru=outcome_ru,
        reason_ru=reason_ru,
        describe_change=describe_change,
    )


def _not_found(code: str) -> Any:
    return (
        render_template(
            "error.html",
            title="Нет такого региона",
            message=f"Региона с кодом «{code[:8]}» нет. Код региона — две цифры, например 77.",
            code="not_found",
        ),
        404,
    )


def _enabled(value: str) -> bool | str:
    """The form's switch as a bool; anything else is passed on for the field error."""
    return {"on": True, "off": False}.get(value, value)


def _has_policy(form: MultiDict[str, str]) -> bool:
    return "policy_form" in form or any(name.startswith(POLICY_PREFIX) for name in form)


def policy_from_form(form: MultiDict[str, str], fields: tuple[PolicyField, ...] | None = None) -> dict[str, Any]:
    """The overrides a form posts as ``policy.<name>`` fields; an empty field means no override.

    Values become the field's type when they can (``true``/``false``, digits); anything else,
    and any unknown name, is passed on unchanged for :func:`regionadmin.check_policy` to name.
    """
    known = {item.name: item for item in (regionadmin.policy_fields() if fields is None else fields)}
    overrides: dict[str, Any] = {}
    for key, raw in form.items():
        if not key.startswith(POLICY_PREFIX):
            continue
        name, text = key[len(POLICY_PREFIX) :], raw.strip()
        if not text:
            continue
        item = known.get(name)
        if item is not None and item.type is bool:
            overrides[name] = {"true": True, "false": False}.get(text, text)
        elif item is not None and item.type is int and re.fullmatch(r"-?[0-9]{1,9}", text):
            overrides[name] = int(text)
        else:
            overrides[name] = text
    return overrides


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_summary(errors: dict[str, str], fields: tuple[PolicyField, ...]) -> list[tuple[str | None, str, str]]:
    """The form's errors for the summary at the top of the page: the field's anchor (None for an
    error of no field on the form), its name, and what is wrong, in the form's order."""
    names = {"enabled": ("enabled-on", "Вход через Госуслуги")}
    for item in fields:
        words = POLICY_RU.get(item.name)
        names[POLICY_PREFIX + item.name] = (POLICY_PREFIX + item.name, words[0] if words else item.name)
    names["comment"] = ("comment", "Комментарий")
    summary: list[tuple[str | None, str, str]] = [(*names[name], errors[name]) for name in names if name in errors]
    summary += [(None, "Изменение", why) for name, why in errors.items() if name not in names]
    return summary


def bar_label(outcome: str, reason: str | None) -> str:
    """A bar's words: the outcome, or for a refusal its reason as staff read it (the code only
    for a reason that has no words)."""
    if outcome != matching.Outcome.REFUSED:
        return outcome_ru(outcome)
    return "Отказ: " + (reason_ru(reason) or reason or "без причины")


def bar_items(figures: regionadmin.Figures, period: str) -> list[tuple[str, int, str]]:
    """One period's bars: successful outcomes, then each refusal reason, most frequent first."""
    lines = [line for line in figures.by_outcome() if line.outcome != matching.Outcome.REFUSED]
    lines += figures.refusals()
    return [(bar_label(line.outcome, line.reason), getattr(line, period), str(line.outcome)) for line in lines]


def chart_bars(figures: regionadmin.Figures, period: str) -> list[Bar]:
    """The bars of one period's chart (see :func:`charts.lay_out_bars`)."""
    return charts.lay_out_bars(bar_items(figures, period))[0]
