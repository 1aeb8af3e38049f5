"""The pre-flight page (the blueprint ``preflight``): before a region switches ESIA login on,
how many of its accounts would be refused, why, in which schools, and the list to fix (CSV).

The work is :func:`broker.regions.preflight.run_preflight` (the same as ``broker preflight``); it
reads only. Operators see their own regions, admins and support every region; the CSV holds
account ids, logins, schools, findings and the SNILS's masked tail only, for every role.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for

import matching
from broker.errors import InputError
from broker.regions import policies as regions
from broker.regions import preflight
from broker.staff import access
from broker.support import glossary

bp = Blueprint("preflight", __name__, url_prefix="/preflight")
bp.after_request(access.staff_page_headers)


def _visible_regions() -> list[Any]:
    member = access.current_staff()
    assert member is not None
    return [region for region in regions.all_regions() if access.can_view_region(member, region.code)]


@bp.get("/")
@access.staff_required()
def choose() -> Any:
    """Pick a region (``?region=NN`` goes straight to it)."""
    code = request.args.get("region", "").strip()
    if code:
        return Response(status=303, headers={"Location": url_for("preflight.report", code=code)})
    return render_template("preflight/choose.html", regions=_visible_regions())


def _report(code: str) -> matching.PreflightReport:
    access.require_region(code, manage=False)
    try:
        return preflight.run_preflight(code)
    except InputError:
        abort(404)


@bp.get("/<code>")
@access.staff_required()
def report(code: str) -> Any:
    found = _report(code)
    return render_template(
        "preflight/report.html",
        report=found,
        reasons=[(*staff_words(reason), count) for reason, count in found.by_reason.items()],
        schools=found.schools()[:20],
        findings=matching.FINDINGS,
    )


def staff_words(reason: matching.Reason) -> tuple[str, str]:
    """A predicted refusal as staff read it (the support pages' words, not the person's «Ваш
    аккаунт…»): its label, capitalised, and who fixes it."""
    label = glossary.REASON_RU[reason]
    fixer = glossary.FIXER_STAFF_BY_REASON_RU.get(reason) or glossary.FIXER_STAFF_RU[matching.REFUSALS[reason].fixer]
    return label[:1].upper() + label[1:], fixer


@bp.get("/<code>.csv")
@access.staff_required()
def csv_file(code: str) -> Any:
    found = _report(code)
    buffer = io.StringIO()
    preflight.write_csv(found, buffer)
    name = f"preflight-{code}-{found.today.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
