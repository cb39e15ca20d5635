"""History charts as PNG (issue 18): a client's last 12 months, finance's month against the 12 before.

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (no pyplot, no global state), and
imported inside the functions: the DAG parser never loads matplotlib. 640x260 CSS pixels drawn
at 2x for sharp print and retina screens, quantized to a palette, so a chart is a few tens of KB.

- Only what is known is drawn. The 12 months stay on the axis, so months line up from one email
  to the next, but nothing is drawn above a month without data (never a zero bar, never a mark
  taller than the data): its tick label is grey, and one short note under the axis names the
  months without data (``chart_text.no_data_phrase``). An amount missing is a gap in the line.
- The same data gives the same bytes (no software, no date in the file): a re-rendered email or
  invoice is identical.
- The chart's data (``ClientHistory.to_data`` / ``FinanceHistory.to_data``) is embedded as JSON
  in a PNG ``tEXt`` chunk named ``Description``; ``chart_data`` reads it back.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

from include.dms_billing.core.history import AMOUNT_EXPECTED, NOT_SPLIT, ClientHistory, FinanceHistory
from include.dms_billing.core.invoice import month_name
from include.dms_billing.outputs.chart_text import LABELS, finance_known, no_data_phrase

WIDTH, HEIGHT, SCALE = 640, 260, 2  # CSS pixels, drawn at SCALE x
DATA_KEY = "Description"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOURS = {"active": "#2f6db5", "inactive_recent_login": "#f0a030", NOT_SPLIT: "#9a9a9a"}
AMOUNT_COLOUR = "#c0392b"
NOTE_COLOUR = "#666666"  # the note and the tick labels of months without data


def _short(billing_month: str) -> str:
    """``2023-05`` -> ``May\\n23``: a tick label."""
    name = month_name(billing_month)
    return f"{name[:3]}\n{name[-2:]}"


def compact(value: float, _position: object = None) -> str:
    """A tick label: ``8625000`` -> ``8.6M``, ``52000`` -> ``52k``, ``5000`` -> ``5,000``; never an
    offset such as ``1e7`` above the axis."""
    for divisor, unit, start in ((1e6, "M", 1e6), (1e3, "k", 1e4)):
        if abs(value) >= start:
            return f"{value / divisor:,.1f}".removesuffix(".0") + unit
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _ticks(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(compact))


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100 * SCALE, facecolor="white")
    figure.set_layout_engine("constrained")
    return figure


def _style(axes, months: tuple[str, ...], known: list[bool], note: bool) -> None:
    """The months' axis; months without data keep their place, nothing above them, a grey tick
    label; with ``note``, the phrase naming them under the axis (at the left: the corner that
    never hides a bar)."""
    axes.set_xticks(range(len(months)), [_short(m) for m in months], fontsize=7)
    for label, has in zip(axes.get_xticklabels(), known):
        if not has:
            label.set_color(NOTE_COLOUR)
    phrase = no_data_phrase(months, known)
    if note and phrase:
        axes.set_xlabel(phrase[0].upper() + phrase[1:], loc="left", fontsize=6.5, color=NOTE_COLOUR)
    axes.set_xlim(-0.6, len(months) - 0.4)
    axes.tick_params(axis="y", labelsize=7)
    _ticks(axes.yaxis)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def figure_png(figure, data: dict[str, object]) -> bytes:
    """The figure as a palette PNG with ``data`` as JSON in its tEXt chunk; nothing else varies."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image, PngImagePlugin

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    info.add_text(DATA_KEY, json.dumps(data, sort_keys=True, separators=(",", ":")))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, optimize=True)
    return out.getvalue()


def client_chart_png(history: ClientHistory) -> bytes:
    return figure_png(client_figure(history), history.to_data())


def client_figure(history: ClientHistory):
    """Stacked bars of billable users by reason per month, the amount as a line on a second axis."""
    figure = _figure()
    axes = figure.add_subplot()
    months = tuple(p.billing_month for p in history.months)
    counted = [p for p in history.months if p.by_reason is not None]
    bottoms = [0] * len(months)
    for reason in COLOURS:
        if any(reason in p.by_reason for p in counted):
            heights = [p.by_reason.get(reason, 0) if p.by_reason is not None else 0 for p in history.months]
            xs = [i for i, p in enumerate(history.months) if p.by_reason is not None]
            axes.bar(xs, [heights[i] for i in xs], 0.7, bottom=[bottoms[i] for i in xs], color=COLOURS[reason],
                     label=LABELS[reason])
            bottoms = [b + h for b, h in zip(bottoms, heights)]
    _style(axes, months, [p.has_data for p in history.months], note=True)
    axes.set_ylabel("billable users", fontsize=7)
    axes.set_ylim(0, max([*bottoms, 1]) * 1.15)
    axes.yaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes.get_legend_handles_labels()
    currency = history.currency
    if currency:
        line = axes.twinx()  # the amount, on its own axis at the right
        line.tick_params(axis="y", labelsize=7, colors=AMOUNT_COLOUR)
        _ticks(line.yaxis)
        line.spines["top"].set_visible(False)
        amounts = [float(p.amount) if p.amount is not None and p.currency == currency else float("nan")
                   for p in history.months]
        invoiced = [a if p.amount_kind != AMOUNT_EXPECTED else float("nan") for a, p in zip(amounts, history.months)]
        line.plot(range(len(months)), invoiced, color=AMOUNT_COLOUR, linewidth=1.4, marker="o", markersize=3.5,
                  label="Invoice total")
        expected = [(i, a) for i, (a, p) in enumerate(zip(amounts, history.months)) if p.amount_kind == AMOUNT_EXPECTED]
        if expected:
            line.plot([i for i, _ in expected], [a for _, a in expected], linestyle="none", marker="o", markersize=5,
                      markerfacecolor="white", markeredgecolor=AMOUNT_COLOUR,
                      label="Not invoiced yet (before VAT)")
        line.set_ylim(0, max([a for a in amounts if a == a] + [1]) * 1.15)
        line.set_ylabel(f"amount ({currency})", fontsize=7, color=AMOUNT_COLOUR)
        more_handles, more_labels = line.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    figure.legend(handles, labels, loc="outside upper center", ncols=len(handles), fontsize=6.5,
                  frameon=False)
    return figure


def finance_chart_png(history: FinanceHistory) -> bytes:
    return figure_png(finance_figure(history), history.to_data())


def finance_figure(history: FinanceHistory):
    """Per currency, the total invoiced in each month: the summary's month highlighted; the note on
    months without any invoice under the last panel."""
    figure = _figure()
    currencies = history.currencies or ("",)
    last = len(history.months) - 1
    for row, currency in enumerate(currencies, start=1):
        axes = figure.add_subplot(len(currencies), 1, row)
        totals = history.totals.get(currency, (None,) * len(history.months))
        xs = [i for i, t in enumerate(totals) if t is not None]
        axes.bar(xs, [float(totals[i]) for i in xs], 0.7,
                 color=["#2f6db5" if i == last else "#9fbde0" for i in xs])
        _style(axes, history.months, finance_known(history), note=row == len(currencies))
        axes.set_ylabel(currency or "total", fontsize=7)
        axes.set_ylim(0, max([float(totals[i]) for i in xs] + [1]) * 1.15)
        if row < len(currencies):
            axes.tick_params(axis="x", labelbottom=False)
    figure.suptitle(f"Invoiced per month, {month_name(history.months[0])} to {month_name(history.billing_month)}",
                    fontsize=8)
    return figure


def chart_data(png: bytes) -> dict[str, object]:
    """The JSON a chart embeds (its ``tEXt`` chunk), read without decoding the picture."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    at = len(PNG_SIGNATURE)
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        body = png[at + 8:at + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", png[at + 8 + length:at + 12 + length])[0]:
            raise ValueError(f"PNG chunk {kind!r} is damaged")
        if kind == b"tEXt" and body.partition(b"\0")[0] == DATA_KEY.encode():
            return json.loads(body.partition(b"\0")[2].decode("latin-1"))
        at += 12 + length
    raise ValueError("the PNG carries no chart data")


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the IHDR chunk."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def data_uri(png: bytes) -> str:
    """The PNG as a ``data:`` URI, for the invoice's HTML (WeasyPrint embeds it in the PDF)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
