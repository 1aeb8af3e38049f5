"""The operators' figures: the success rate, the hourly and daily trend (counted by the database,
on SQLite and PostgreSQL), the charts' geometry, and the words on the region page."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from broker import services
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.regions import admin as regionadmin
from broker.regions import charts, trends
from broker.regions import views as regionpages
from tests.broker.staffing import StaffBrowser, make_staff
from tests.clock import FrozenClock

# 13:30 in Moscow: today (Moscow) began at 21:00 UTC the day before.
NOW = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
_REFERENCES = itertools.count(1)


def attempt(at: datetime, outcome: str, reason: str | None = None, region: str | None = "77", *, completed: bool | None = None) -> None:
    """An attempt; a granted one is completed (the person got in) unless ``completed`` says otherwise."""
    done = outcome != "refused" if completed is None else completed
    db.session.add(LoginAttempt(reference=f"R{next(_REFERENCES):07d}", started_at=at, client_id="portal", flow="login",
                                region=region, outcome=outcome, reason=reason, completed_at=at if done else None))  # fmt: skip


def counts(trend: trends.Trend) -> list[tuple[str, dict[str, int]]]:
    """The buckets that hold attempts, by their Moscow label."""
    return [(charts.bucket_label(bucket, trend.step), bucket.counts) for bucket in trend.buckets if bucket.total]


# --- the trend, in SQL -------------------------------------------------------------------------


def test_the_trend_counts_whole_hours_and_moscow_days_by_outcome(app: Flask) -> None:
    attempt(NOW, "signed_in")  # now: the current hour and day
    attempt(NOW.replace(minute=0), "refused", "no_account")  # the current hour's first second
    attempt(NOW.replace(minute=0) - timedelta(microseconds=1), "linked")  # the hour before
    attempt(NOW - timedelta(hours=23, minutes=30), "refused", "region_disabled")  # 11:00 UTC yesterday: the first hour
    attempt(NOW - timedelta(hours=24, minutes=30), "signed_in")  # before the 24 hours, yesterday
    attempt(MIDNIGHT, "choose_account")  # today's midnight in Moscow
    attempt(MIDNIGHT - timedelta(seconds=1), "signed_in")  # the day before
    attempt(MIDNIGHT - timedelta(days=29), "refused", "no_account")  # the first of the 30 days
    attempt(MIDNIGHT - timedelta(days=29, seconds=1), "signed_in")  # before the 30 days
    attempt(NOW + timedelta(seconds=1), "signed_in")  # after now
    attempt(NOW, "signed_in", region="50")  # another region
    attempt(NOW, "refused", "esia_error", region=None)  # no region known
    db.session.commit()

    hourly, daily = trends.trends("77", now=NOW.astimezone(trends.STAFF_ZONE))
    assert len(hourly.buckets) == 24 and len(daily.buckets) == 30
    assert hourly.buckets[-1].start == NOW.replace(minute=0) and hourly.buckets[0].start == NOW.replace(minute=0) - timedelta(hours=23)
    assert daily.buckets[-1].start == MIDNIGHT and daily.buckets[0].start == MIDNIGHT - timedelta(days=29)
    assert counts(hourly) == [
        ("14:00", {"refused": 1}),  # 11:00 UTC
        ("23:00", {"signed_in": 1}),
        ("00:00", {"choose_account": 1}),
        ("12:00", {"linked": 1}),
        ("13:00", {"signed_in": 1, "refused": 1}),
    ]
    assert counts(daily) == [
        ("06.11", {"refused": 1}),
        ("04.12", {"refused": 1, "signed_in": 2}),
        ("05.12", {"signed_in": 1, "refused": 1, "linked": 1, "choose_account": 1}),
    ]
    assert (daily.total, daily.successes, hourly.total, hourly.successes) == (8, 5, 6, 4)
    peak = daily.peak()
    assert peak is not None and peak.start == MIDNIGHT
    assert daily.by_outcome() == {"signed_in": 3, "linked": 1, "choose_account": 1, "refused": 3}


def test_a_region_without_attempts_has_an_empty_trend(app: Flask) -> None:
    hourly, daily = trends.trends("41", now=NOW)
    assert hourly.total == daily.total == 0 and hourly.peak() is None
    assert all(bucket.counts == {} for bucket in (*hourly.buckets, *daily.buckets))


def test_the_trend_is_one_query_over_the_region_time_index(app: Flask) -> None:
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if "login_attempts" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        trends.trends("77", now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    assert "CASE" in statement and "strftime" not in statement and "extract" not in statement.lower()
    if db.engine.dialect.name == "sqlite":
        plan = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()  # type: ignore[arg-type]
        assert "ix_login_attempts_region_started_at" in " ".join(str(row[-1]) for row in plan)


# --- the success rate --------------------------------------------------------------------------


def test_the_success_rate_counts_every_way_in_among_all_attempts(app: Flask) -> None:
    for outcome in ("signed_in", "linked", "choose_account"):
        attempt(NOW - timedelta(hours=1), outcome)
    attempt(NOW - timedelta(hours=1), "refused", "tier_insufficient")
    attempt(NOW - timedelta(days=3), "refused", "no_account")
    db.session.commit()
    found = regionadmin.figures("77", now=NOW)
    assert (found.successes("day"), found.day_total, found.success_rate("day")) == (3, 4, 75)
    assert (found.successes("week"), found.week_total, found.success_rate("week")) == (3, 5, 60)
    assert regionadmin.figures("41", now=NOW).success_rate("day") is None


def test_only_attempts_in_which_the_person_got_in_are_successes(app: Flask) -> None:
    # Decided, but nobody got in: a first link never confirmed, a chooser never answered, «Это не я».
    attempt(NOW - timedelta(hours=1), "linked", completed=False)
    attempt(NOW - timedelta(hours=1), "choose_account", completed=False)
    attempt(NOW - timedelta(minutes=5), "linked", completed=False)  # not_me
    attempt(NOW - timedelta(minutes=5), "linked")  # confirmed: signed in
    attempt(NOW - timedelta(days=2), "signed_in")
    db.session.commit()
    found = regionadmin.figures("77", now=NOW)
    assert (found.successes("day"), found.day_total, found.success_rate("day")) == (1, 4, 25)
    assert (found.successes("week"), found.week_total) == (2, 5)
    assert {line.outcome: line.week for line in found.by_outcome()}["linked"] == 3  # the outcomes stay as decided
    hourly, daily = trends.trends("77", now=NOW)
    assert (hourly.successes, hourly.total, daily.successes, daily.total) == (1, 4, 2, 5)
    assert hourly.buckets[-1].successes == 1 and hourly.buckets[-2].successes == 0


def test_the_success_rate_is_rounded_down() -> None:
    assert trends.success_rate(199, 200) == 99  # never 100 % while someone was refused
    assert trends.success_rate(1, 3) == 33 and trends.success_rate(0, 5) == 0 and trends.success_rate(0, 0) is None


# --- the charts' geometry ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50), (120, 200), (501, 1000)])
def test_the_scale_ends_at_a_round_number(value: int, top: int) -> None:
    assert charts.nice_top(value) == top


def test_trend_columns_stack_the_outcomes_to_scale_and_the_labels_stay_inside() -> None:
    starts = trends.hour_starts(NOW)
    buckets = [trends.Bucket(start, {}) for start in starts]
    buckets[-1] = trends.Bucket(starts[-1], {"signed_in": 2, "refused": 3})
    buckets[0] = trends.Bucket(starts[0], {"linked": 1})
    chart = charts.lay_out_trend(trends.Trend("hour", NOW, tuple(buckets)))
    assert chart.top == 5 and chart.height == charts.TOP + charts.PLOT + charts.AXIS
    last = chart.columns[-1]
    assert [(s.outcome, s.height) for s in last.segments] == [("signed_in", 60.0), ("refused", 90.0)]
    assert last.segments[0].y + last.segments[0].height == charts.TOP + charts.PLOT  # from the baseline up
    assert last.segments[-1].y == charts.TOP  # the largest column reaches the top of the scale
    assert all(column.x + column.width <= 100 for column in chart.columns)
    assert [(t.text, t.anchor) for t in chart.ticks] == [
        ("14:00", "start"),
        ("20:00", "start"),
        ("02:00", "start"),
        ("08:00", "start"),
        ("13:00", "end"),
    ]
    assert chart.ticks[-1].x == 100.0 and chart.peak is last


def test_a_long_bar_label_is_wrapped_to_fit_a_phone() -> None:
    bars, height = charts.lay_out_bars([("Отказ: до 14 лет первая привязка по коду приглашения от школы (настройка региона)", 4, "refused"),
                                        ("Вход по связи", 8, "signed_in"), ("Выбор аккаунта", 0, "choose_account")])  # fmt: skip
    assert [bar.value for bar in bars] == [4, 8]  # no bar for nothing
    assert len(bars[0].lines) == 3 and all(len(line) <= charts.BAR_LABEL_WIDTH for line in bars[0].lines)
    assert bars[1].y == bars[0].bar_y + charts.BAR_HEIGHT + charts.BAR_GAP and height == bars[1].bar_y + charts.BAR_HEIGHT + charts.BAR_GAP


# --- on the page -------------------------------------------------------------------------------


def test_the_page_shows_the_rate_and_the_trend_at_the_broker_clock(app: Flask, browser: StaffBrowser) -> None:
    services.current().clock = FrozenClock(NOW)
    attempt(NOW - timedelta(minutes=10), "signed_in")
    attempt(NOW - timedelta(minutes=20), "refused", "tier_insufficient")
    attempt(NOW - timedelta(days=2), "linked")
    db.session.commit()
    make_staff("helper", role="support")
    assert browser.login("helper").status_code == 302
    page = browser.get("/regions/77").get_data(as_text=True)

    assert re.search(r'<span class="rate">50 %</span> — 1 из 2 попыток', page)
    assert re.search(r'<span class="rate">66 %</span> — 2 из 3 попыток', page)
    assert "вход по связи, первый вход: связь с Госуслугами, выбор аккаунта" in page  # what counts
    assert "брошенные на полпути, и «Это не я» успехом не считаются" in page
    assert "от всех попыток за то же время, включая отказы" in page
    bars = page.split('id="chart-day-title"')[1].split("</svg>")[0]
    assert "с 14 лет упрощённой учётной записи мало" in bars and "tier_insufficient" not in bars

    hourly = page.split('<table id="trend-hourly">')[1].split("</table>")[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>((?:<td class="number">\d+</td>)+)</tr>', hourly)
    assert len(rows) == 24 and rows[0][0] == "14:00" and rows[-1][0] == "13:00"
    assert re.findall(r"\d+", rows[-1][1]) == ["1", "0", "0", "1", "2"]  # signed in, linked, chooser, refused, all
    daily = page.split('<table id="trend-daily">')[1].split("</table>")[0]
    assert (
        daily.count('<tr><th scope="row">') == 30
        and '<th scope="row">03.12</th><td class="number">0</td><td class="number">1</td>' in daily
    )
    desc = page.split('id="trend-daily-desc">')[1].split("</desc>")[0]
    assert "Всего попыток: 3, успешных: 2 (66 %)" in desc and "Больше всего попыток — 05.12: 2" in desc


@pytest.mark.parametrize(
    ("count", "words"), [(1, "попытки"), (2, "попыток"), (11, "попыток"), (21, "попытки"), (111, "попыток"), (5, "попыток")]
)
def test_of_n_attempts_is_said_in_the_right_case(count: int, words: str) -> None:
    assert regionpages.of_attempts(count) == words


def test_the_figures_come_before_the_form(app: Flask, browser: StaffBrowser) -> None:
    make_staff("ivanov", role="operator", regions=("77",))
    assert browser.login("ivanov").status_code == 302
    page = browser.get("/regions/77").get_data(as_text=True)
    assert page.index('id="figures-heading"') < page.index('id="trends-heading"') < page.index("<h2>Изменить</h2>")
    assert page.index("Успешные входы за последние 24 часа") < page.index("<h2>Изменить</h2>")
