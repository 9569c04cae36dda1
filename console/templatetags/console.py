"""Template filters for the console's pages."""

from django import template

from core.display import pretty_json

register = template.Library()


@register.filter
def plain_capped(value, cap):
    """A count that stopped at `cap` reads "more than cap", not a precise-looking figure."""
    try:
        if int(value) > int(cap):
            return f"more than {int(cap):,}"
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


register.filter("pretty_json", pretty_json)
