"""Values a worker reads on every event, kept by each process until they change anywhere:
blocks, risk lists, destinations.

A cache never weakens a guarantee: a change applies to everything stored after it commits. So
a cache does not expire; it is invalidated. The change bumps its cache's generation row
(CacheGeneration) in the change's own transaction, and each use of the cache first reads the
generation (one primary-key lookup), loading the value again when it moved. An event stored
after the change committed is therefore processed with the change, in every process."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from django.db import connection

from core.models import CacheGeneration

T = TypeVar("T")


def _table() -> str:
    return connection.ops.quote_name(CacheGeneration._meta.db_table)


# Inside cache_generations_once(): every generation, read once at the scope's first use.
_SNAPSHOT: ContextVar[dict[str, int] | None] = ContextVar("cache_generations", default=None)


@contextmanager
def cache_generations_once() -> Iterator[None]:
    """Within this scope the caches check their generations against one read of them all,
    made at the first use. Processing wraps each batch in it, after claiming the batch's
    events: they were all stored before that read, so a change committed before any of them
    is seen, at the cost of one query a batch instead of one a use."""
    token = _SNAPSHOT.set({})
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)


def cache_generation(name: str) -> int:
    snapshot = _SNAPSHOT.get()
    if snapshot is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT generation FROM {_table()} WHERE name = %s", [name])  # noqa: S608
            row = cursor.fetchone()
        return row[0] if row else 0
    if not snapshot:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name, generation FROM {_table()}")  # noqa: S608
            snapshot.update(cursor.fetchall())
        snapshot.setdefault("", 0)  # read: an empty table must not be read again
    return snapshot.get(name, 0)


def cache_invalidate(name: str) -> None:
    """Mark what the named cache reads as changed, inside the caller's transaction: the
    change and the bump commit (or roll back) together."""
    table = _table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS g (name, generation) VALUES (%s, 1) "  # noqa: S608
            "ON CONFLICT (name) DO UPDATE SET generation = g.generation + 1",
            [name],
        )


class InvalidatedCache(Generic[T]):
    """`load()`'s result, loaded again whenever the named generation moved since."""

    def __init__(self, load: Callable[[], T], *, name: str):
        self._load = load
        self.name = name
        self._generation: int | None = None
        self._value: T | None = None

    def __call__(self) -> T:
        current = cache_generation(self.name)
        if self._generation != current:
            # Read the generation before the value: a change committing in between bumps it
            # again, so the next call reloads rather than keeping a stale value.
            self._value = self._load()
            self._generation = current
        return self._value

    def clear(self, **signal_kwargs) -> None:
        """Forget this process's copy (the next call loads again)."""
        self._generation = None
        self._value = None

    def invalidate(self, **signal_kwargs) -> None:
        """What load() reads changed: tell every process (usable as a signal receiver)."""
        cache_invalidate(self.name)
        self.clear()


def invalidated_cache(name: str) -> Callable[[Callable[[], T]], InvalidatedCache[T]]:
    """Decorator: @invalidated_cache("blocks") on a function of no arguments."""
    return lambda load: InvalidatedCache(load, name=name)
