"""Server-rendered SVG charts: no JavaScript library and no CDN, so the console works offline
and a chart is in the page the moment it loads."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = (
    "#417690",  # the admin's own blue
    "#e07a2f",
    "#5b9e4d",
    "#b5495b",
    "#8a6bb8",
    "#c9a227",
    "#3f8f8f",
    "#7f7f7f",
)
WIDTH, HEIGHT = 680, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 12, 34


def _nice_max(value: float) -> float:
    """The axis top: four gridline steps of a round size (1, 2 or 5 x 10^n) covering value."""
    if value <= 0:
        return 4.0
    step = 1.0
    while step * 4 < value:
        step *= 10
    while step / 10 * 4 >= value:
        step /= 10
    for factor in (0.1, 0.2, 0.5, 1):
        if step * factor * 4 >= value:
            return step * factor * 4
    return step * 4


def _fmt(value: float) -> str:
    if value == int(value) or value >= 10:
        return f"{value:,.0f}"
    return f"{value:.2g}"


def _frame(title: str, labels: list[str], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="hd-chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(_fmt(value))}{escape(unit)}</text>"
        )
    step = max(1, len(labels) // 12)
    slot = plot_w / max(1, len(labels))
    for index, label in enumerate(labels):
        if index % step:
            continue
        x = LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return parts


def _legend(names: list[str]) -> str:
    items = "".join(
        f'<span class="hd-legend-item"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
        f"{escape(name)}</span>"
        for i, name in enumerate(names)
    )
    return f'<div class="hd-legend">{items}</div>' if len(names) > 1 else ""


def bar_chart(
    *, title: str, labels: list[str], series: dict[str, list[float]], unit: str = ""
) -> SafeString:
    """Stacked bars: one bar per label, one colour per series."""
    names = list(series)
    totals = [sum(series[name][i] for name in names) for i in range(len(labels))]
    top = _nice_max(max([*totals, 4]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar = max(2.0, slot * 0.7)
    parts = _frame(title, labels, top, unit)
    for index, label in enumerate(labels):
        base = TOP + plot_h
        x = LEFT + slot * index + (slot - bar) / 2
        for number, name in enumerate(names):
            value = series[name][index]
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[number % len(PALETTE)]}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(_fmt(value))}{escape(unit)}"
                f"</title></rect>"
            )
    parts.append("</svg>")
    return mark_safe(  # noqa: S308  every interpolated text above is escaped
        "".join(parts) + _legend(names)
    )


def line_chart(
    *, title: str, labels: list[str], series: dict[str, list[float | None]], unit: str = ""
) -> SafeString:
    """One line per series; None is a gap (no data in that slot)."""
    names = list(series)
    values = [v for name in names for v in series[name] if v is not None]
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    parts = _frame(title, labels, top, unit)
    for number, name in enumerate(names):
        colour = PALETTE[number % len(PALETTE)]
        points = []
        for index, value in enumerate(series[name]):
            if value is None:
                continue
            x = LEFT + slot * (index + 0.5)
            y = TOP + plot_h - plot_h * value / top
            points.append((x, y, value, labels[index]))
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline class="line" points="{path}" stroke="{colour}"/>')
        for x, y, value, label in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(_fmt(value))}{escape(unit)}"
                f"</title></circle>"
            )
    parts.append("</svg>")
    return mark_safe(  # noqa: S308  every interpolated text above is escaped
        "".join(parts) + _legend(names)
    )
