"""Template filters for the admin's lists over big tables."""

from django import template

from core.pagination import count_label

register = template.Library()


@register.filter
def result_count(cl) -> str:
    """The change list's result count, read as a lower bound or an estimate where it is one."""
    return count_label(cl.paginator, cl.result_count)
