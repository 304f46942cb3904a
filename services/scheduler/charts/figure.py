"""The admin chart as a picture, with matplotlib's Agg backend.

No pyplot: a Figure made directly has no global registry or GUI state, so the renderer's worker
thread can draw it. Importing this module imports matplotlib (tens of MB and most of a second), so
only the renderer imports it, on the first chart.

One panel of people (new users, trials started, payments received: lines) and one of revenue per
currency (bars, each non-zero day labelled), on one dated x axis; legends and panel titles carry
the period's totals.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from common.texts import money, text
from services.scheduler.repositories.daily_stats import DailyStats

# Telegram shows a photo about 400-600 px wide in the chat and full size on a tap: a narrow figure
# at a high DPI keeps the text large enough to read in the bubble.
DPI = 150
WIDTH_IN = 8.0
TITLE_IN = 0.6           # suptitle and margins
PANEL_IN = 2.4
MAX_DATE_LABELS = 11
MAX_LABELLED_BARS = 31   # more and the labels run into each other: only the highest is labelled
BACKGROUND = "#ffffff"
GRID = "#e4e7ec"
INK = "#30343b"
NEW_USERS = "#2e9d5b"
TRIALS = "#e08a00"
PAYMENTS = "#6a4fb3"
STARS = "#d9a300"
FIAT = ("#2e7dd2", "#17a2b8", "#8c564b", "#c2185b")
STARS_CURRENCY = "XTR"
# DejaVu Sans has no colour emoji: the chart writes Stars with the plain black star it can draw.
FONT_STAR = "★"


def png(stats: DailyStats, locale: str) -> bytes:
    """Blocking (about a second on a busy box): call it off the event loop."""
    figure = build(stats, locale)
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=figure.get_facecolor())
    return out.getvalue()


def size_px(stats: DailyStats) -> tuple[int, int]:
    """Width and height of the PNG png() makes of these numbers."""
    rows = _rows(stats)
    return round(WIDTH_IN * DPI), round((TITLE_IN + PANEL_IN * rows) * DPI)


def build(stats: DailyStats, locale: str) -> Figure:
    rows = _rows(stats)
    figure = Figure(figsize=(WIDTH_IN, TITLE_IN + PANEL_IN * rows), dpi=DPI, layout="constrained",
                    facecolor=BACKGROUND)
    figure.get_layout_engine().set(w_pad=0.12, h_pad=0.08)   # inches kept clear at the edges
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0])
    day_label, long_label = _date_labels(locale)
    figure.suptitle(text(locale, "chart.title", first=long_label(stats.days[0]), last=long_label(stats.days[-1])),
                    fontsize=15, fontweight="bold", color=INK)
    x = mdates.date2num(stats.days)
    _people(axes[0], x, stats, locale)
    currencies = _currencies(stats)
    if currencies:
        for index, (ax, currency) in enumerate(zip(axes[1:], currencies, strict=True)):
            _revenue(ax, x, stats, currency, FIAT[index % len(FIAT)], locale)
    else:
        _nothing_paid(axes[1], locale)
    for ax in axes:
        _style(ax)
    bottom = axes[-1]
    bottom.set_xlim(x[0] - 0.7, x[-1] + 0.7)
    step = -(-len(x) // MAX_DATE_LABELS)           # ceil: at most MAX_DATE_LABELS dates, today always one
    bottom.xaxis.set_major_locator(FixedLocator(sorted(x[::-1][::step])))
    bottom.xaxis.set_minor_locator(FixedLocator(x))
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda value, _: day_label(mdates.num2date(value).date())))
    bottom.tick_params(axis="x", labelsize=10, colors=INK)
    return figure


def _rows(stats: DailyStats) -> int:
    return 1 + max(1, len(_currencies(stats)))


def _currencies(stats: DailyStats) -> list[str]:
    """Fiat and crypto first (alphabetically), Telegram Stars last: the order of the statistics screen."""
    return sorted(stats.revenue, key=lambda currency: (currency == STARS_CURRENCY, currency))


def _people(ax: Axes, x, stats: DailyStats, locale: str) -> None:
    series = ((stats.new_users, "chart.new_users", NEW_USERS, "o"),
              (stats.trials, "chart.trials", TRIALS, "s"),
              (stats.payments, "chart.payments", PAYMENTS, "D"))
    for values, key, color, marker in series:
        ax.plot(x, values, color=color, marker=marker, markersize=4.5, linewidth=2,
                label=text(locale, key, total=sum(values)))
    peak = max(max(values) for values, *_ in series)
    ax.set_ylim(0, max(peak, 1) * 1.45)                 # headroom for the legend
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_title(text(locale, "chart.activity"), loc="left", fontsize=12, color=INK)
    ax.legend(loc="upper left", ncols=3, fontsize=10, framealpha=0.95, edgecolor=GRID)


def _revenue(ax: Axes, x, stats: DailyStats, currency: str, fiat_color: str, locale: str) -> None:
    values = [float(amount) for amount in stats.revenue[currency]]
    total = stats.revenue_total(currency)
    if currency == STARS_CURRENCY:
        color, title = STARS, text(locale, "chart.stars", total=money(total, currency, star=FONT_STAR))
    else:
        color, title = fiat_color, text(locale, "chart.revenue", currency=currency, total=money(total, currency))
    bars = ax.bar(x, values, width=0.7, color=color)
    peak = max(values)
    labelled = [v > 0 and (len(values) <= MAX_LABELLED_BARS or v == peak) for v in values]
    ax.bar_label(bars, labels=[_compact(v) if shown else "" for v, shown in zip(values, labelled, strict=True)],
                 padding=2, fontsize=7, color=INK)
    ax.set_ylim(0, max(peak, 1) * 1.25)                  # headroom for the bar labels
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_title(title, loc="left", fontsize=12, color=INK)


def _nothing_paid(ax: Axes, locale: str) -> None:
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_title(text(locale, "chart.revenue_empty"), loc="left", fontsize=12, color=INK)
    ax.text(0.5, 0.5, text(locale, "chart.no_revenue"), transform=ax.transAxes, ha="center", va="center",
            fontsize=12, color="#7a808a")


def _style(ax: Axes) -> None:
    ax.set_facecolor(BACKGROUND)
    ax.grid(axis="y", color=GRID, linewidth=1)
    ax.grid(axis="x", which="major", color=GRID, linewidth=0.6, linestyle=":")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", labelsize=9, colors=INK)


def _date_labels(locale: str) -> tuple[Callable[[date], str], Callable[[date], str]]:
    months = text(locale, "chart.months").split()

    def short(day: date) -> str:
        return f"{day.day} {months[day.month - 1]}"

    def long(day: date) -> str:
        return f"{short(day)} {day.year}"
    return short, long


def _compact(value: float) -> str:
    """A bar's label in three significant digits at most, to fit over a bar a thirtieth of the width."""
    if value >= 1_000_000:
        return _trim(f"{value / 1_000_000:.1f}") + "M"
    if value >= 1000:
        return _trim(f"{value / 1000:.1f}") + "k"
    if value >= 100:
        return str(round(value))
    if value >= 10:
        return _trim(f"{value:.1f}")
    return _trim(f"{value:.2f}")


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number
