"""Plots of a utilization/cost/CO2 frontier: a PNG (matplotlib) and an offline interactive
HTML page (plotly, its JavaScript inline; the page around it from a Jinja2 template)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from markupsafe import Markup, escape

from symbiosis.api.report.fonts import cjk_font, no_cjk_font_message
from symbiosis.api.report.html import environment, html_lang, translator
from symbiosis.api.report.model import Kind, check_lang, fmt_value, is_missing, num
from symbiosis.api.report.numbers import fmt_amount
from symbiosis.i18n import t
from symbiosis.jsonio import atomic_write

__all__ = ["FRONTIER_COLUMNS", "network_figure", "write_frontier_plots", "write_network_png"]

log = logging.getLogger(__name__)

FRONTIER_COLUMNS = ("utilization_rate", "tonnes_matched", "saving_cny", "co2_net_t",
                    "tonne_km")
_FRONTIER_KINDS: dict[str, Kind] = {"utilization_rate": "pct", "co2_net_t": "co2",
                                    "exchanges": "int"}


def _safe_plan(plan: object) -> str:
    """A plan link only if it is a relative path (no scheme such as javascript:)."""
    text = "" if is_missing(plan) else str(plan).strip()
    if not text or text.startswith(("/", "\\")) or urlsplit(text).scheme:
        return ""
    return text


def _axis_kind(column: str) -> Kind:
    return _FRONTIER_KINDS.get(column, "qty")


def _target_placement(frame: pd.DataFrame, x: str, y: str, target: float | None) -> str:
    """How to show the utilization target: "line" when it falls among the points' rates,
    else a message key saying all or none of them meet it (a far-off line would squash the
    frontier), or "" when no axis is the utilization rate."""
    if target is None or "utilization_rate" not in (x, y) or frame.empty:
        return ""
    rates = frame["utilization_rate"]
    if rates.min() >= target:
        return "report.target_all_meet"
    if rates.max() < target:
        return "report.target_none_meet"
    return "line"


# the narrowest span an axis shows, so a tiny change is not drawn as a steep line: 5
# percentage points for a rate, 5 % of the largest magnitude for an amount
MIN_RATE_SPAN = 0.05
MIN_RELATIVE_SPAN = 0.05


def honest_limits(values: pd.Series, rate: bool) -> tuple[float, float] | None:
    """Axis limits at least MIN_RATE_SPAN (a rate, kept within 0..1) or MIN_RELATIVE_SPAN of
    the largest magnitude (an amount) wide, centred on the data; None when the data already
    span that much (matplotlib's own limits are then fine) or there is no finite value."""
    finite = pd.to_numeric(values, errors="coerce").dropna()
    if finite.empty:
        return None
    low, high = float(finite.min()), float(finite.max())
    span = MIN_RATE_SPAN if rate else MIN_RELATIVE_SPAN * max(abs(low), abs(high), 1e-9)
    if high - low >= span:
        return None
    mid = (low + high) / 2
    lo, hi = mid - span / 2, mid + span / 2
    if rate:
        lo, hi = (0.0, span) if lo < 0 else (1.0 - span, 1.0) if hi > 1 else (lo, hi)
    return lo, hi


def _frontier_png(frame: pd.DataFrame, x: str, y: str, lang: str, path: Path,
                  target: float | None) -> None:
    from matplotlib import rc_context, rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

    font = cjk_font() if lang == "zh" else None
    text_lang = "zh" if font else "en"  # Chinese labels only when a font can draw them
    if lang == "zh" and font is None:
        log.warning("frontier.png in English: %s", no_cjk_font_message())
    fig = Figure(figsize=(7.5, 5.0), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(frame[x], frame[y], "-o", color="#1f5f99", markersize=6)
    for point, xv, yv in zip(frame["point"], frame[x], frame[y], strict=True):
        ax.annotate(str(point), (xv, yv), textcoords="offset points", xytext=(5, 5),
                    fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    for axis, col, set_limits in ((ax.xaxis, x, ax.set_xlim), (ax.yaxis, y, ax.set_ylim)):
        rate = col == "utilization_rate"
        if rate:
            axis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        else:  # the report's amounts (万/亿 in Chinese): no "1e6" offset, no false digits
            axis.set_major_formatter(FuncFormatter(
                lambda v, _pos: fmt_amount(v, text_lang)))
        limits = honest_limits(frame[col], rate)
        if limits is not None:
            set_limits(*limits)
    kw: dict[str, Any] = {"fontfamily": font} if font else {}
    title = t("report.frontier_title", text_lang)
    placed = _target_placement(frame, x, y, target)
    if placed == "line" and target is not None:
        line = ax.axvline if x == "utilization_rate" else ax.axhline
        line(target, color="#b26a00", linestyle="--", linewidth=1,
             label=f"{t('kpi.target', text_lang)} {fmt_value(target, 'pct')}")
        ax.legend(loc="best", prop={"family": font} if font else None)
    elif placed and target is not None:
        title += f"\n{t(placed, text_lang, target=fmt_value(target, 'pct'))}"
    ax.set_xlabel(t(f"axis.{x}", text_lang), **kw)
    ax.set_ylabel(t(f"axis.{y}", text_lang), **kw)
    ax.set_title(title, **kw)
    ax.grid(True, alpha=0.3)
    # tick labels too are drawn in the CJK font (万/亿 in Chinese amounts)
    with rc_context({"font.sans-serif": [font, *rcParams["font.sans-serif"]]} if font else {}):
        fig.savefig(path, format="png")


@dataclass(frozen=True)
class _Row:
    point: int
    cells: list[tuple[float | None, Kind]]
    plan: str


def _frontier_html(frame: pd.DataFrame, x: str, y: str, lang: str, path: Path,
                   target: float | None) -> None:
    import plotly.graph_objects as go

    present = [c for c in (*FRONTIER_COLUMNS, "exchanges") if c in frame.columns]
    plans = [_safe_plan(p) for p in frame["plan"]] if "plan" in frame.columns \
        else [""] * len(frame)
    custom = [[int(pt), plan, *(num(v) for v in vals)]
              for pt, plan, *vals in zip(frame["point"], plans,
                                         *(frame[c] for c in present), strict=True)]
    # plotly draws hover and title texts as HTML: catalogue texts are escaped for it
    hover = [f"<b>{escape(t('report.point', lang))} %{{customdata[0]}}</b>"]
    for i, col in enumerate(present, start=2):
        fmt = ":.1%" if col == "utilization_rate" else (":,.1f" if col == "co2_net_t"
                                                        else ":,.0f")
        hover.append(f"{escape(t(f'axis.{col}', lang))}: %{{customdata[{i}]{fmt}}}")
    hover.append(f"{escape(t('report.plan', lang))}: %{{customdata[1]}}")
    title = f"{t('report.frontier_title', lang)} ({t('report.open_plan', lang)})"
    fig = go.Figure(go.Scatter(
        x=[num(v) for v in frame[x]], y=[num(v) for v in frame[y]],
        mode="lines+markers+text", text=[str(int(p)) for p in frame["point"]],
        textposition="top center", customdata=custom,
        hovertemplate="<br>".join(hover) + "<extra></extra>",
        line={"color": "#1f5f99"}, marker={"size": 10}))
    fig.update_layout(
        title=title, xaxis_title=t(f"axis.{x}", lang), yaxis_title=t(f"axis.{y}", lang),
        template="plotly_white", margin={"l": 70, "r": 30, "t": 60, "b": 60},
        xaxis={"tickformat": ".0%" if x == "utilization_rate" else ",.0f"},
        yaxis={"tickformat": ".0%" if y == "utilization_rate" else ",.0f"})
    placed = _target_placement(frame, x, y, target)
    if placed == "line" and target is not None:
        label = f"{t('kpi.target', lang)} {fmt_value(target, 'pct')}"
        style = {"line_dash": "dash", "line_color": "#b26a00", "annotation_text": label}
        if x == "utilization_rate":
            fig.add_vline(x=target, **style)
        else:
            fig.add_hline(y=target, **style)
    elif placed and target is not None:
        note = escape(t(placed, lang, target=fmt_value(target, "pct")))
        fig.update_layout(title=f"{title}<br><sub>{note}</sub>")
    click = ("var gd = document.getElementById('{plot_id}');"
             "gd.on('plotly_click', function (ev) {"
             " var p = ev.points && ev.points[0];"
             " if (p && p.customdata && p.customdata[1]) {"
             "  window.open(p.customdata[1], '_blank'); }"
             "});")
    plot = fig.to_html(full_html=False, include_plotlyjs=True, post_script=click,
                       div_id="frontier", config={"displaylogo": False, "responsive": True})
    rows = [_Row(row[0], [(v, _axis_kind(c)) for c, v in zip(present, row[2:], strict=True)],
                 plan) for row, plan in zip(custom, plans, strict=True)]
    page = environment().get_template("frontier.html.j2").render(
        plot=Markup(plot),  # plotly's own output (its div and inline script): trusted
        columns=present, rows=rows, tr=translator(lang), html_lang=html_lang(lang))
    path.write_text(page, encoding="utf-8")


def write_frontier_plots(frontier: pd.DataFrame, out_dir: str | Path, x: str, y: str,
                         lang: str = "en", target: float | None = None) -> list[Path]:
    """frontier.png (matplotlib) and frontier.html (plotly, offline) of the frontier points
    in `out_dir`, drawn as a line through the points sorted by `x`; in the HTML a point's
    hover shows its figures and a click opens its plan (the `plan` column, a relative path).
    With `target` (e.g. summary.json's utilization_target value) an axis showing the
    utilization rate gets a dashed target line.

    Chinese labels need a CJK font; when none is installed the PNG keeps English labels.

    Raises:
        ValueError: an unknown language, an axis not in FRONTIER_COLUMNS, or a column the
            frontier lacks.
    """
    check_lang(lang)
    for col in (x, y):
        if col not in FRONTIER_COLUMNS:
            raise ValueError(f"cannot plot {col!r}: use one of {', '.join(FRONTIER_COLUMNS)}")
    missing = [c for c in ("point", x, y) if c not in frontier.columns]
    if missing:
        raise ValueError(f"the frontier has no column {', '.join(missing)}")
    frame = frontier.dropna(subset=[x, y]).sort_values(x, kind="stable").reset_index(drop=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out / "frontier.png",
                         lambda p: _frontier_png(frame, x, y, lang, p, target)),
            atomic_write(out / "frontier.html",
                         lambda p: _frontier_html(frame, x, y, lang, p, target))]


# --------------------------------------------------------------------------- network.png

NETWORK_LABELS = 10  # keystones named on the network map (placed without overlap)


def network_figure(report: dict[str, Any], lon: dict[str, float], lat: dict[str, float],
                   edges: list[tuple[str, str]], names: dict[str, str] | None = None) -> Any:
    """network.png's figure (`symbiosis analyze`): the exchange network on its map (left:
    provincial boundaries and prefecture seats from `geo.basemap`, one arrow per supplier ->
    receiver link, the five top keystones in red) and the keystone ranking (right: the
    solid by-product matched that is lost if each one leaves, t/yr).

    `report` is `matching.network.analyze_network`'s answer (`keystones`, `enterprises`);
    `lon`/`lat` map enterprise ids to WGS 84 degrees; `names` (optional) gives labels.
    The top keystones are labelled by name without overlap (`geo.labels`, a label that fits
    nowhere is left out); amounts on the bar axis are written as the report writes them
    (three significant figures, no "1e6" offset); lon/lat axes without offset either.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from symbiosis.geo.basemap import basemap_within
    from symbiosis.geo.labels import place_labels

    fig = Figure(figsize=(13, 6))
    canvas = FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    keys = list(report.get("keystones", []))[:NETWORK_LABELS]
    top = [str(k["enterprise_id"]) for k in keys[:5]]
    nodes = sorted({str(e["enterprise_id"]) for e in report.get("enterprises", [])}
                   | {n for edge in edges for n in edge})
    nodes = [n for n in nodes if n in lon and n in lat]
    xs = [lon[n] for n in nodes]
    ys = [lat[n] for n in nodes]
    if xs:
        pad = max(0.08 * max(max(xs) - min(xs), max(ys) - min(ys)), 0.05)
        box = (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)
    else:
        box = (108.8, 24.6, 114.3, 30.1)  # nothing to place: Hunan
    handles: list[Any] = []
    boundary = basemap_within(box, margin_deg=0.0).plot_boundaries(left, "#b0b0b0", 0.8)
    if boundary is not None:
        handles.append(boundary)
    for a, b in edges:
        if a in lon and b in lon:
            left.annotate("", xy=(lon[b], lat[b]), xytext=(lon[a], lat[a]),
                          arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.6})
    if edges:
        handles.append(Line2D([0], [0], color="0.55", linewidth=0.8, marker=">",
                              markersize=4, label="exchange (supplier → receiver)"))
    hot = set(top)
    colours = ["tab:red" if n in hot else "tab:blue" for n in nodes]
    left.scatter(xs, ys, s=18, c=colours, zorder=3)
    handles += [Line2D([0], [0], marker="o", linestyle="", color="tab:red",
                       label="top-5 keystone"),
                Line2D([0], [0], marker="o", linestyle="", color="tab:blue",
                       label="enterprise in the network")]
    left.set_xlim(box[0], box[2])
    left.set_ylim(box[1], box[3])
    left.set_aspect(1.0 / max(math.cos(math.radians((box[1] + box[3]) / 2)), 0.1))
    left.ticklabel_format(useOffset=False, style="plain")
    left.set_title("Exchange network (red: top keystones)")
    left.set_xlabel("longitude (°E)")
    left.set_ylabel("latitude (°N)")
    left.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    label = (names or {}).get
    right.barh([label(str(k["enterprise_id"])) or str(k["enterprise_id"]) for k in keys][::-1],
               [float(k["tonnes_lost"]) for k in keys][::-1], color="tab:red",
               label="solid by-product matched lost, t/yr")
    right.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_amount(v)))
    right.set_title("Keystones: solid by-product matched lost if it leaves")
    right.set_xlabel("t/yr")
    right.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    legend_box = left.get_legend().get_window_extent(canvas.get_renderer())
    place_labels(left, [(lon[n], lat[n], label(n) or n) for n in top if n in lon],
                 fontsize=7, avoid=[legend_box], zorder=5)
    return fig


def write_network_png(path: Path, report: dict[str, Any], lon: dict[str, float],
                      lat: dict[str, float], edges: list[tuple[str, str]],
                      names: dict[str, str] | None = None) -> Path:
    """network.png (`network_figure`), written atomically."""
    fig = network_figure(report, lon, lat, edges, names)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def _monthly_png(monthly: Any, lang: str, path: Path) -> None:
    from matplotlib import rc_context, rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    font = cjk_font() if lang == "zh" else None
    text_lang = "zh" if font else "en"  # Chinese labels only when a font can draw them
    if lang == "zh" and font is None:
        log.warning("monthly.png in English: %s", no_cjk_font_message())
    months = [m.month for m in monthly.months]
    fig = Figure(figsize=(7.5, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(months, [m.matched_t for m in monthly.months], color="#1f5f99",
           label=t("monthly.matched", text_lang))
    ax.plot(months, [m.offered_t for m in monthly.months], "-o", color="#b26a00",
            label=t("monthly.offered", text_lang))
    ax.plot(months, [m.needed_t for m in monthly.months], "--s", color="#5a8f29",
            label=t("monthly.needed", text_lang))
    ax.plot(months, [m.stored_t for m in monthly.months], ":^", color="#7a4b9a",
            label=t("monthly.stored", text_lang))
    ax.set_xticks(months)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_amount(v, text_lang)))
    kw: dict[str, Any] = {"fontfamily": font} if font else {}
    ax.set_xlabel(t("monthly.month", text_lang), **kw)
    ax.set_title(t("monthly.plot_title", text_lang), **kw)
    ax.legend(loc="best", prop={"family": font} if font else None)
    ax.grid(True, axis="y", alpha=0.3)
    with rc_context({"font.sans-serif": [font, *rcParams["font.sans-serif"]]} if font else {}):
        fig.savefig(path, format="png")


def write_monthly_plot(monthly: Any, out_dir: str | Path, lang: str = "en") -> list[Path]:
    """monthly.png of a monthly plan (issue 15): tonnes matched per month as bars, offered,
    needed and held in stores as lines; `monthly` is summary.json's `monthly` section
    (`matching.summary.MonthlySummary`). Chinese labels need a CJK font.

    Raises:
        ValueError: an unknown language.
    """
    check_lang(lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out / "monthly.png", lambda p: _monthly_png(monthly, lang, p))]


__all__ += ["write_monthly_plot"]
