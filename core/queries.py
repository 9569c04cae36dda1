"""Query helpers shared by the apps' selectors and admin searches."""

from django.db.models import Q, QuerySet


def exact_search(queryset: QuerySet, term: str, fields: tuple[str, ...]) -> QuerySet:
    """Exact matches on indexed identifiers. The admin's own search is a case-insensitive
    substring match, which no index serves on a table of millions."""
    term = term.strip()
    if not term:
        return queryset
    query = Q()
    for field in fields:
        query |= Q(**{field: term})
    return queryset.filter(query)
