"""The block page's chart of holds per day by outcome: stacked bars in inline SVG, with no
JavaScript and nothing fetched.

The SVG holds only shapes and stretches to the width it is given; every text (the scale, the
first and last day, the legend) is HTML beside it, so it stays legible from a phone's 390 px to
a wide screen, where text drawn inside a scaled SVG would shrink with it."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from rules.block_stats import DayCounts

# Bottom to top, with the colours of the queue's status badges, a shade stronger.
SERIES = (("rejected", "Rejected", "#c0504d"), ("released", "Released", "#5b9e4d"),
          ("open", "Open", "#d9a520"))  # fmt: skip
SLOT_WIDTH, PLOT_HEIGHT = 10, 100


def _scale_top(largest: int) -> int:
    """The top of the scale: the largest day, at least 4, so one hold is not a full bar."""
    return max(4, largest)


def _bars(day: DayCounts, index: int, top: int) -> list[str]:
    base = float(PLOT_HEIGHT)
    parts = []
    for name, label, colour in SERIES:
        count = getattr(day, name)
        if not count:
            continue
        height = PLOT_HEIGHT * count / top
        base -= height
        parts.append(
            f'<rect x="{index * SLOT_WIDTH + 1}" y="{base:.2f}" width="{SLOT_WIDTH - 2}" '
            f'height="{height:.2f}" fill="{colour}" data-outcome="{name}">'
            f"<title>{escape(day.day.isoformat())} · {label}: {count}</title></rect>"
        )
    return parts


def holds_per_day_chart(per_day: list[DayCounts]) -> SafeString:
    """Stacked bars, one per day, rejected, released and open from the bottom up."""
    totals = [day.open + day.released + day.rejected for day in per_day]
    top = _scale_top(max(totals, default=0))
    width = SLOT_WIDTH * max(1, len(per_day))
    shapes = [
        f'<line x1="0" x2="{width}" y1="{y}" y2="{y}" class="grid"/>'
        for y in (0, PLOT_HEIGHT / 2, PLOT_HEIGHT)
    ]
    for index, day in enumerate(per_day):
        shapes.extend(_bars(day, index, top))
    title = f"Holds per day by outcome, {sum(totals)} in {len(per_day)} days"
    first = per_day[0].day.isoformat() if per_day else ""
    last = per_day[-1].day.isoformat() if per_day else ""
    legend = "".join(
        f'<span class="hd-legend-item"><i style="background:{colour}"></i>{label}</span>'
        for _, label, colour in reversed(SERIES)
    )
    html = (
        f'<figure class="hd-daychart" id="holds-per-day">'
        f'<div class="hd-daychart-plot"><div class="hd-daychart-scale" aria-hidden="true">'
        f"<span>{top}</span><span>{_half(top)}</span><span>0</span></div>"
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {PLOT_HEIGHT}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(shapes)}</svg></div>"
        f'<div class="hd-daychart-days"><span>{first}</span><span>{last}</span></div>'
        f'<figcaption class="hd-legend">{legend}</figcaption></figure>'
    )
    return mark_safe(html)  # noqa: S308  every text interpolated above is escaped or a number


def _half(top: int) -> str:
    half = top / 2
    return f"{half:.0f}" if half == int(half) else f"{half:.1f}"
