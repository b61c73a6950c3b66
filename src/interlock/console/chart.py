"""Bar charts of a value per day, drawn on the server as inline SVG (no script, no chart library).

``daily_bars`` turns the figures into the geometry a template draws (``templates/chart.html``): one bar
per day, a few labelled gridlines on a rounded scale, and an optional dashed line for an expected value
per day. Every bar carries its figure as a title and the table beside the chart carries them all, so
the chart adds nothing a screen reader misses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 200
# Room for the scale's labels on the left and the days' labels underneath.
LEFT = 64
BOTTOM = 24
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: float
    bars: list[Bar]
    gridlines: list[Gridline]
    # The expected value per day as a line across the chart (None: no estimate).
    expected_y: float | None
    expected_label: str

    @property
    def expected_label_y(self) -> float:
        """Above the line, or under it when the line runs along the top."""
        y = self.expected_y or 0.0
        return y - 4 if y > TOP + 12 else y + 14


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def usd(value: float) -> str:
    """Dollars with enough digits to tell small figures apart."""
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    # Two significant digits past the zeros (0.00018), then no trailing zeros beyond the cents.
    text = f"{value:.{max(2, 1 - math.floor(math.log10(value)))}f}"
    whole, cents = text.split(".")
    return f"${whole}.{cents[:2] + cents[2:].rstrip('0')}"


def daily_bars(days: Sequence[tuple[str, float]], expected: float | None = None, unit: str = "cost") -> Chart:
    """``days``: (ISO date, value) in order; ``expected``: a value per day to draw as a line."""
    top = nice_top(max([v for _, v in days] + ([expected] if expected else []) + [0.0]))
    plot_h = HEIGHT - BOTTOM - TOP
    plot_w = WIDTH - LEFT
    slot = plot_w / max(1, len(days))
    bars = []
    # Label about eight days, evenly, so the labels never overlap.
    every = max(1, math.ceil(len(days) / 8))
    for i, (day, value) in enumerate(days):
        h = plot_h * value / top
        bars.append(Bar(x=LEFT + i * slot + slot * 0.15, y=TOP + plot_h - h, width=slot * 0.7, height=h,
                        label=day[5:] if i % every == 0 else "", title=f"{day}: {usd(value)} ({unit})"))
    gridlines = [Gridline(TOP + plot_h - plot_h * k / 4, usd(top * k / 4)) for k in range(5)]
    expected_y = TOP + plot_h - plot_h * expected / top if expected else None
    return Chart(WIDTH, HEIGHT, LEFT, TOP + plot_h, bars, gridlines, expected_y,
                 f"expected {usd(expected)} a day" if expected else "")
