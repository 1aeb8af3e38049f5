"""The geometry of the region page's charts, drawn as SVG by the template (no script: the page
policy allows none).

Horizontal positions are percentages of the chart's width, so a chart fits a phone and a desktop
without scaling its text; vertical ones are pixels. Labels come from the caller (the page's
words); nothing here reads the database.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from broker.regions.trends import OUTCOMES, STAFF_ZONE, Bucket, Trend

BAR_LABEL_WIDTH = 34  # characters per line of a bar's label: fits a phone's width at 13px
BAR_LINE = 16  # pixels per line of a label
BAR_HEIGHT = 14
BAR_GAP = 10
TOP = 18  # above the plot: the top gridline's label
PLOT = 150
AXIS = 22  # below the plot: the time labels


# --- bars: attempts by outcome and reason ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a figures chart: its label (in lines), value, length (percent of the chart's
    width) and where its label starts (pixels from the chart's top)."""

    label: str
    value: int
    percent: float
    outcome: str  # its colour: the trend's colour of the same outcome (``outcome_class``)
    lines: tuple[str, ...] = ()
    y: int = 0

    @property
    def bar_y(self) -> int:
        return self.y + len(self.lines) * BAR_LINE + 4

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSED

    @property
    def css_class(self) -> str:
        return outcome_class(self.outcome)


#: The outcome of a refusal (``matching.Outcome.REFUSED``), whatever its reason.
REFUSED = "refused"


def outcome_class(outcome: str) -> str:
    """The CSS class that colours ``outcome`` on every chart of the region page (bars, trend
    columns and the legend alike): one outcome, one colour."""
    return f"o-{outcome}"


def lay_out_bars(items: list[tuple[str, int, str]]) -> tuple[list[Bar], int]:
    """Bars for ``(label, value, outcome)`` items with a value, and the chart's height.

    Lengths are relative to the largest bar, at most 78% of the width so that the number after
    the bar always fits; a label longer than a phone's width goes on several lines.
    """
    shown = [(label, value, outcome) for label, value, outcome in items if value]
    top = max((value for _, value, _ in shown), default=0)
    bars, y = [], 0
    for label, value, outcome in shown:
        lines = tuple(textwrap.wrap(label, BAR_LABEL_WIDTH, break_long_words=True)) or (label,)
        bar = Bar(label, value, max(round(78 * value / top, 2), 1.0), str(outcome), lines, y)
        bars.append(bar)
        y = bar.bar_y + BAR_HEIGHT + BAR_GAP
    return bars, y


# --- columns: the trend by outcome -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    outcome: str
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Column:
    """One hour or day: its place across (percent), its stacked outcomes, its words for a tooltip."""

    x: float
    width: float
    segments: tuple[Segment, ...]
    label: str
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    anchor: str  # the SVG text-anchor: "start", or "end" for the last at the right edge
    text: str


@dataclass(frozen=True, slots=True)
class Gridline:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class TrendChart:
    trend: Trend
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    gridlines: tuple[Gridline, ...]
    height: int
    top: int  # the largest value the scale shows

    @property
    def peak(self) -> Column | None:
        """The column with the most attempts (the latest of equals); None without attempts."""
        busiest = self.trend.peak()
        return next((column for column in self.columns if column.bucket is busiest), None)


def nice_top(value: int) -> int:
    """The scale's top: the smallest of 1, 2, 5, 10, 20, 50… at least ``value``."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def bucket_label(bucket: Bucket, step: str) -> str:
    """``14:00`` for an hour, ``05.12`` for a day, in Moscow time."""
    local = bucket.start.astimezone(STAFF_ZONE)
    return local.strftime("%H:%M") if step == "hour" else local.strftime("%d.%m")


def lay_out_trend(trend: Trend, *, tick_every: int | None = None, label: Callable[[Bucket, str], str] = bucket_label) -> TrendChart:
    """Stacked columns, one per bucket, outcomes from the bottom in the engine's order."""
    count = len(trend.buckets)
    top = nice_top(max((bucket.total for bucket in trend.buckets), default=0))
    every = tick_every or (6 if trend.step == "hour" else 7)
    slot = 100 / count if count else 100
    columns = []
    for index, bucket in enumerate(trend.buckets):
        bottom, segments = float(TOP + PLOT), []
        for outcome in OUTCOMES:
            value = bucket.counts.get(outcome, 0)
            if value:
                height = round(PLOT * value / top, 2)
                bottom -= height
                segments.append(Segment(outcome, round(bottom, 2), height))
        columns.append(
            Column(round(index * slot + slot * 0.1, 3), round(slot * 0.8, 3), tuple(segments), label(bucket, trend.step), bucket)
        )
    ticks = [
        Tick(column.x, "start", column.label) for index, column in enumerate(columns) if index % every == 0 and index < count - every // 2
    ]
    if columns:
        ticks.append(Tick(100.0, "end", columns[-1].label))
    gridlines = [Gridline(TOP, top)] + ([Gridline(TOP + PLOT / 2, top // 2)] if top % 2 == 0 else [])
    return TrendChart(trend, tuple(columns), tuple(ticks), tuple(gridlines), TOP + PLOT + AXIS, top)
