"""The region pages (the blueprint ``regions``): the regions a staff member may see, and a region's
page with its ESIA switch, policy overrides, login figures (table and SVG chart) and changes.

Everyone on staff may open the pages of the regions they see; only the region's operators and
admins get (and may post) the form. The rules live in :mod:`broker.regions.admin`; this module
only parses the form and renders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

import matching
from broker import services
from broker.regions import admin as regionadmin
from broker.regions.admin import FigureLine, PolicyField, RegionInputError
from broker.staff import access
from broker.staff.access import staff_required
from broker.support import glossary

bp = Blueprint("regions", __name__, url_prefix="/regions")
bp.after_request(access.staff_page_headers)

_CODE = re.compile(r"[0-9]{2}")
POLICY_PREFIX = "policy."

#: What each policy override means, for the operator: a label and a hint (the form shows the
#: field's code next to them). An override without words here is shown by its code only.
POLICY_RU: dict[str, tuple[str, str]] = {
    "auto_link_under_14": (
        "Первая привязка детей младше 14 лет при входе через Госуслуги",
        "«да» (по общим правилам) — аккаунт ребёнка младше 14 лет связывается с Госуслугами при первом "
        "входе, если совпали ФИО и дата рождения. «нет» — первую привязку делают только в дневнике, "
        "войдя по логину и паролю («Привязать аккаунт портала Госуслуги»); до этого вход через "
        "Госуслуги отклоняется с причиной link_required. Уже привязанные аккаунты и взрослых это не затрагивает.",
    ),
    "under_14_first_link": (
        "Как делать первую привязку детей младше 14 лет при входе через Госуслуги",
        "auto (по общим правилам) — по совпадению ФИО и даты рождения. invite_code — ещё и по одноразовому коду "
        "приглашения, который школа выдаёт семье (сотрудники выпускают коды через API или `broker invites`); "
        "до ввода кода вход отклоняется с причиной invite_code_required. Если первая привязка детей при входе "
        "выключена (auto_link_under_14 = «нет»), действует она, и код не спрашивается.",
    ),
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a figures chart: its label, value and length (percent of the chart's width)."""

    label: str
    value: int
    percent: float
    refused: bool


def outcome_ru(outcome: str) -> str:
    """The staff label of an outcome (the support search's words), as a table row starts it."""
    label: str = glossary.OUTCOME_RU.get(outcome, outcome)  # type: ignore[call-overload]
    return label[:1].upper() + label[1:]


def reason_ru(reason: str | None) -> str:
    """The staff label of a refusal reason (the same words as the support search)."""
    return glossary.REASON_RU.get(reason, "") if reason else ""  # type: ignore[call-overload]


def describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A region change from its audit event, in words: the switch and each override changed."""
    before, after = before or {}, after or {}
    parts = []
    if before.get("enabled") != after.get("enabled"):
        parts.append("вход через Госуслуги " + ("включён" if after.get("enabled") else "выключен"))
    old, new = before.get("policy") or {}, after.get("policy") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            shown = json.dumps(new[name], ensure_ascii=False) if name in new else "по общим правилам"
            parts.append(f"{name}: {shown}")
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
        )
    except RegionInputError as exc:
        return _page(region, values=form, errors=exc.why_ru_by_field()), 400
    if not change.changed:
        flash("Ничего не изменилось: регион уже в этом состоянии. Изменение не записано.")
    else:
        state = "включён" if change.region.enabled else "выключен"
        seconds = current_app.config["REGION_CACHE_SECONDS"]
        flash(
            f"Сохранено. Вход через Госуслуги в регионе {code} {state}. Этот процесс брокера применяет "
            f"изменение сразу, остальные — в течение {seconds:g} с."
        )
    return redirect(url_for(".region_page", code=code))


def _page(region: regionadmin.RegionView, *, values: MultiDict[str, str] | None, errors: dict[str, str]) -> str:
    figures = regionadmin.figures(region.code, now=services.current().clock())
    fields = regionadmin.policy_fields()
    if values is None:
        values = MultiDict({"enabled": "on" if region.enabled else "off"})
        values.update({POLICY_PREFIX + name: _form_value(value) for name, value in region.policy.items()})
    known = {POLICY_PREFIX + item.name for item in fields} | {"enabled", "comment"}
    return render_template(
        "regions/region.html",
        region=region,
        fields=fields,
        values=values,
        errors=errors,
        other_errors={name: why for name, why in errors.items() if name not in known},
        figures=figures,
        day_bars=chart_bars(figures, "day"),
        week_bars=chart_bars(figures, "week"),
        history=regionadmin.history(region.code),
        cache_seconds=current_app.config["REGION_CACHE_SECONDS"],
        prefix=POLICY_PREFIX,
        policy_ru=POLICY_RU,
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


def chart_bars(figures: regionadmin.Figures, period: str) -> list[Bar]:
    """The bars of one period's chart: successful outcomes, then each refusal reason.

    Lengths are relative to the period's largest bar, at most 78% of the width so that the
    number after the bar always fits.
    """
    lines: list[FigureLine] = [line for line in figures.by_outcome() if line.outcome != matching.Outcome.REFUSED]
    lines += figures.refusals()
    values = [(line, getattr(line, period)) for line in lines]
    values = [(line, value) for line, value in values if value]
    top = max((value for _, value in values), default=0)
    bars = []
    for line, value in values:
        refused = line.outcome == matching.Outcome.REFUSED
        label = f"Отказ: {line.reason or 'без причины'}" if refused else outcome_ru(line.outcome)
        bars.append(Bar(label, value, max(round(78 * value / top, 2), 1.0), refused))
    return bars
