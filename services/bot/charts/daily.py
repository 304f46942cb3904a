"""The admin's 30-day chart: one panel of daily bars per series (revenue, Stars, new users).

Each panel is labelled with its largest value; the message caption names the panels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.bot.charts.png import Canvas, Color

WIDTH = 640
PANEL_HEIGHT = 130
MARGIN = 12
GRID: Color = (228, 231, 236)
AXIS: Color = (120, 126, 136)
LABEL: Color = (60, 64, 72)


@dataclass(frozen=True)
class Series:
    values: Sequence[Decimal | int]   # oldest day first
    color: Color


def _label(value: Decimal | int) -> str:
    number = Decimal(value)
    if number == number.to_integral_value():
        return str(int(number))
    return f"{number.quantize(Decimal('0.01'))}"


def draw(series: Sequence[Series]) -> bytes:
    """A PNG of the series stacked top to bottom. Blocking: call it in a thread."""
    height = MARGIN + len(series) * (PANEL_HEIGHT + MARGIN)
    canvas = Canvas(WIDTH, height)
    for index, one in enumerate(series):
        top = MARGIN + index * (PANEL_HEIGHT + MARGIN)
        _panel(canvas, top, one)
    return canvas.png()


def _panel(canvas: Canvas, top: int, series: Series) -> None:
    left, right = MARGIN + 4, WIDTH - MARGIN
    label_h = 16
    plot_top, plot_bottom = top + label_h, top + PANEL_HEIGHT
    for step in range(5):  # light gridlines at quarters of the largest value
        y = plot_top + (plot_bottom - plot_top) * step // 4
        canvas.rect(left, y, right - left, 1, GRID)
    canvas.rect(left, plot_bottom, right - left, 1, AXIS)
    values = [Decimal(v) for v in series.values]
    peak = max(values, default=Decimal(0))
    canvas.text(left, top, _label(peak), LABEL)
    if not values:
        return
    slot = (right - left) / len(values)
    bar = max(1, int(slot * 0.7))
    for i, value in enumerate(values):
        if value <= 0 or peak <= 0:
            continue
        h = max(1, int((plot_bottom - plot_top) * (value / peak)))
        x = left + int(i * slot + (slot - bar) / 2)
        canvas.rect(x, plot_bottom - h, bar, h, series.color)
