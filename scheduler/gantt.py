"""A plan as a Gantt chart: one self-contained SVG, one row per technician, time across.

``gantt_svg(plan, problem=None, title=None)``. Each row holds a technician's day: driving as
thin grey bars, work as bars coloured by the job's priority (when the problem is given; one
colour without it) with the job id written in when it fits, breaks hatched. Every bar has a
tooltip (an SVG ``<title>``). With the problem, each row also shows the shift, and
technicians with no work get a row of their own. Times are shown in the zone of the first
route's technician, on whole hours of that zone; when the technicians work in several zones,
the chart says so. A footer counts the jobs left out, grouped by reason code.

Pure string building (no dependency); every text from the plan or problem is escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TypeAlias
from zoneinfo import ZoneInfo

from scheduler.model import Plan, Problem, Route, Technician

PRIORITY_COLOURS = {1: "#c62828", 2: "#ef6c00", 3: "#1565c0", 4: "#4f8fc0", 5: "#90a4ae"}
"""Work bars by priority: 1 (most urgent) red to 5 grey-blue."""
WORK_COLOUR = "#1565c0"  # without the problem, priorities are unknown

LABEL_W = 150  # the technicians' column
ROW_H = 30
BAR_H = 20
TRAVEL_H = 4
CHAR_W = 7  # about the width of a character at 12 px
PAD = 12
TOP = 86  # title, zone note, legend and hour labels
LINE_H = 16
REASONS_SHOWN = 4  # per reason code, in the footer
_X: TypeAlias = Callable[[datetime], float]  # a time's place across the chart
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def gantt_svg(plan: Plan, problem: Problem | None = None, *, title: str | None = None) -> str:
    techs = {t.id: t for t in problem.technicians} if problem else {}
    priority = {j.id: j.priority for j in problem.jobs} if problem else {}
    routed = {r.technician for r in plan.routes}
    idle = [t for t in problem.technicians if t.id not in routed] if problem else []
    zone, zone_name, zones = _zone(plan, techs)
    spans: list[datetime] = [when for r in plan.routes for when in (r.start, r.end)]
    for route in plan.routes:
        if route.technician in techs:
            spans += [techs[route.technician].shift.start, techs[route.technician].shift.end]
    spans += [when for t in idle for when in (t.shift.start, t.shift.end)]
    if title is None:
        day = f" {min(spans).astimezone(zone):%Y-%m-%d}" if spans else ""
        title = f"Plan{day} ({plan.engine})"
    rows = len(plan.routes) + len(idle)

    if spans:
        first = min(spans).astimezone(zone).replace(minute=0, second=0, microsecond=0)
        hours = max(1, math.ceil((max(spans) - first).total_seconds() / 3600))
    else:
        first, hours = datetime(2000, 1, 1, tzinfo=UTC), 0
    hour_w = max(40, min(100, 960 // max(1, hours)))
    width = LABEL_W + max(hours * hour_w, 400) + 3 * PAD  # room for the last hour's label
    origin = first.astimezone(UTC)

    def x_at(when: datetime) -> float:
        return round(LABEL_W + (when - origin).total_seconds() / 3600 * hour_w, 1)

    out = _heading(title, zone_name, zones, legend=problem is not None)
    out += _hour_grid(origin, hours, TOP + rows * ROW_H, x_at, zone)
    y_pos = TOP
    for index, route in enumerate(plan.routes):
        out.append(_row(route, techs.get(route.technician), priority, index, y_pos, x_at, zone))
        y_pos += ROW_H
    for index, tech in enumerate(idle, start=len(plan.routes)):
        out.append(_idle_row(tech, index, y_pos, x_at, zone))
        y_pos += ROW_H
    if not rows:
        out.append(_text(PAD, y_pos + 20, "no routes in this plan", fill="#555"))
        y_pos += 30
    footer = _footer(plan)
    y_pos += 24
    out += _footer_text(footer, y_pos)
    height = y_pos + len(footer) * LINE_H + PAD
    width = max(width, PAD + CHAR_W * max((len(line) for line in footer), default=0))
    return _svg(width, height, title, out)


def _heading(title: str, zone_name: str, zones: int, *, legend: bool) -> list[str]:
    """The title, the zone the times are in, and the priorities' colours (``legend``)."""
    out = [_text(PAD, 22, title, size=16, weight="bold")]
    note = f"times in {zone_name}"
    if zones > 1:
        note += f" (the technicians work in {zones} time zones; all are shown in this one)"
    out.append(_text(PAD, 40, note, fill="#555"))
    if legend:
        lx = PAD
        for priority, colour in PRIORITY_COLOURS.items():
            out.append(
                f'<rect x="{lx}" y="49" width="12" height="12" fill="{colour}"/>'
                + _text(lx + 16, 59, f"priority {priority}", fill="#555")
            )
            lx += 80
    return out


def _hour_grid(origin: datetime, hours: int, bottom: int, x_at: _X, zone: tzinfo) -> list[str]:
    """A line and a label at each whole hour from ``origin``, down to ``bottom``."""
    out = []
    for hour in range(hours + 1):
        tick = origin + timedelta(hours=hour)
        tx = x_at(tick)
        out.append(
            f'<line x1="{tx}" y1="{TOP - 6}" x2="{tx}" y2="{bottom}" stroke="#ddd"/>'
            + _text(tx, TOP - 10, f"{tick.astimezone(zone):%H:%M}", anchor="middle", fill="#555")
        )
    return out


def _footer_text(footer: list[str], top: int) -> list[str]:
    """The footer's lines from ``top`` down: the count and each reason code in bold, the
    reasons under a code indented."""
    out = []
    for index, line in enumerate(footer):
        shown = line.lstrip()  # an indented line is a reason under its code
        indent = 2 * PAD if shown != line else PAD
        bold = index == 0 or shown == line
        out.append(_text(indent, top + index * LINE_H, shown, weight="bold" if bold else None))
    return out


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    """The document: ``body`` on a white page, with the title and the breaks' hatching."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        f"<title>{_esc(title)}</title>\n"
        "<defs>"
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#fff3c4"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#b8860b" stroke-width="2"/>'
        "</pattern></defs>\n"
        f'<rect width="{width}" height="{height}" fill="#fff"/>\n' + "\n".join(body) + "\n</svg>\n"
    )


def _row(
    route: Route,
    tech: Technician | None,
    priority: dict[str, int],
    index: int,
    row_y: int,
    x_at: _X,
    zone: tzinfo,
) -> str:
    mid = row_y + ROW_H / 2
    top = mid - BAR_H / 2
    parts = [_background(index, row_y), _label(route.technician, mid)]
    if tech is not None:
        parts.append(_shift(tech, row_y, x_at, zone))
    # driving: each leg ends at the arrival; the last leg ends back at the end place
    home_s = route.travel_s - sum(s.travel_s for s in route.stops)
    legs = [(s.arrival - timedelta(seconds=s.travel_s), s.arrival) for s in route.stops]
    legs.append((route.end - timedelta(seconds=home_s), route.end))
    for begin, end in legs:
        if end > begin:
            tip = f"driving {(end - begin).total_seconds() / 60:.0f} min, {_span(begin, end, zone)}"
            thin = mid - TRAVEL_H / 2
            parts.append(
                _bar(x_at(begin), thin, x_at(end), TRAVEL_H, 'fill="#9e9e9e"', "travel", tip)
            )
    for pause in route.breaks:
        style = 'fill="url(#hatch)" stroke="#b8860b"'
        tip = f"break {_span(pause.start, pause.end, zone)}"
        parts.append(_bar(x_at(pause.start), top, x_at(pause.end), BAR_H, style, "break", tip))
    for stop in route.stops:
        job_priority = priority.get(stop.job)
        colour = WORK_COLOUR if job_priority is None else PRIORITY_COLOURS[job_priority]
        tip = f"{stop.job} {_span(stop.start, stop.end, zone)}"
        tip += f", priority {job_priority}" if job_priority is not None else ""
        tip += f" ({route.technician})"
        x0, x1 = x_at(stop.start), x_at(stop.end)
        parts.append(_bar(x0, top, x1, BAR_H, f'fill="{colour}" stroke="#fff"', "work", tip))
        if len(stop.job) * CHAR_W + 6 <= x1 - x0:
            parts.append(
                _text((x0 + x1) / 2, mid + 4, stop.job, anchor="middle", fill="#fff", size=11)
            )
    return _group(route.technician, "row", parts)


def _idle_row(tech: Technician, index: int, row_y: int, x_at: _X, zone: tzinfo) -> str:
    mid = row_y + ROW_H / 2
    parts = [_background(index, row_y), _label(tech.id, mid), _shift(tech, row_y, x_at, zone)]
    parts.append(_text(x_at(tech.shift.start) + 6, mid + 4, "no work", fill="#777", size=11))
    return _group(tech.id, "row idle", parts)


def _group(technician: str, kind: str, parts: Iterable[str]) -> str:
    return f'<g class="{kind}" data-technician="{_esc(technician)}">' + "".join(parts) + "</g>"


def _background(index: int, row_y: int) -> str:
    fill = "#fafafa" if index % 2 else "#f0f0f0"
    return f'<rect x="0" y="{row_y}" width="100%" height="{ROW_H}" fill="{fill}"/>'


def _label(technician: str, mid: float) -> str:
    most = (LABEL_W - PAD - 6) // CHAR_W
    shown = technician if len(technician) <= most else technician[: most - 1] + "\u2026"
    return (
        f'<text x="{PAD}" y="{mid + 4}" class="label">{_esc(shown)}'
        f"<title>{_esc(technician)}</title></text>"
    )


def _shift(tech: Technician, row_y: int, x_at: _X, zone: tzinfo) -> str:
    start, end = tech.shift.start, tech.shift.end
    style = 'fill="none" stroke="#bbb" stroke-dasharray="4 3"'
    tip = f"shift {_span(start, end, zone)}"
    return _bar(x_at(start), row_y + 3, x_at(end), ROW_H - 6, style, "shift", tip)


def _footer(plan: Plan) -> list[str]:
    """How many jobs were left out, and why: each reason code, then its reasons (the most
    common first, at most ``REASONS_SHOWN`` of them) with the jobs."""
    if not plan.unassigned:
        return [f"all {plan.totals.jobs} job(s) assigned"]
    lines = [f"{len(plan.unassigned)} of {plan.totals.jobs} job(s) unassigned"]
    by_code: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for unassigned in plan.unassigned:
        by_code[unassigned.code][unassigned.reason].append(unassigned.job)
    for code, reasons in sorted(by_code.items()):
        lines.append(f"{code} ({sum(len(jobs) for jobs in reasons.values())}):")
        ranked = sorted(reasons.items(), key=lambda item: -len(item[1]))
        for reason, jobs in ranked[:REASONS_SHOWN]:
            lines.append(f"    {reason}: {_some(jobs)}")
        rest = [j for _, jobs in ranked[REASONS_SHOWN:] for j in jobs]
        if rest:
            lines.append(f"    {len(ranked) - REASONS_SHOWN} other reason(s): {_some(rest)}")
    return lines


def _some(jobs: list[str], most: int = 8) -> str:
    return ", ".join(jobs[:most]) + (f" and {len(jobs) - most} more" if len(jobs) > most else "")


def _zone(plan: Plan, techs: dict[str, Technician]) -> tuple[tzinfo, str, int]:
    """The zone shown, its name, and how many zones the routed technicians work in."""
    if not plan.routes:
        return UTC, "UTC", 0
    first = plan.routes[0]
    if all(r.technician in techs for r in plan.routes):
        names = {techs[r.technician].time_zone for r in plan.routes}
        name = techs[first.technician].time_zone
        return ZoneInfo(name), name, len(names)
    zone = first.start.tzinfo or UTC
    name = zone.key if isinstance(zone, ZoneInfo) else zone.tzname(first.start) or "UTC"
    return zone, name, len({r.start.utcoffset() for r in plan.routes})


def _span(start: datetime, end: datetime, zone: tzinfo) -> str:
    return f"{start.astimezone(zone):%H:%M}-{end.astimezone(zone):%H:%M}"


def _bar(x0: float, top: float, x1: float, height: float, style: str, kind: str, tip: str) -> str:
    """A bar from ``x0`` to ``x1`` (at least a pixel wide), with ``tip`` as its tooltip."""
    return (
        f'<rect class="{kind}" x="{x0}" y="{top}" width="{max(1.0, round(x1 - x0, 1))}" '
        f'height="{height}" {style}><title>{_esc(tip)}</title></rect>'
    )


def _text(
    x_pos: float,
    y_pos: float,
    text: str,
    *,
    anchor: str | None = None,
    fill: str | None = None,
    size: int | None = None,
    weight: str | None = None,
) -> str:
    attrs = f'x="{x_pos}" y="{y_pos}"'
    if anchor:
        attrs += f' text-anchor="{anchor}"'
    if fill:
        attrs += f' fill="{fill}"'
    if size:
        attrs += f' font-size="{size}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    return f"<text {attrs}>{_esc(text)}</text>"


def _esc(text: str) -> str:
    """Text safe in XML content and in double-quoted attributes: the markup characters
    escaped, characters XML cannot hold at all replaced."""
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=False).replace('"', "&quot;")
