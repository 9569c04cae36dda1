"""Values a worker reads on every event but may see a few seconds late: blocks, risk lists,
destinations. Each process keeps its own copy and reads it again when it is older than that."""

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Refreshed(Generic[T]):
    """`load()`'s result, loaded again when older than `seconds`; clear() forgets it (call it
    where this process changes what load() reads, so its own change shows at once)."""

    def __init__(self, load: Callable[[], T], *, seconds: float):
        self._load = load
        self.seconds = seconds
        self._loaded_at: float | None = None
        self._value: T | None = None

    def __call__(self) -> T:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at > self.seconds:
            self._value = self._load()
            self._loaded_at = now
        return self._value

    def clear(self, **signal_kwargs) -> None:
        self._loaded_at = None
        self._value = None


def refreshed_every(seconds: float) -> Callable[[Callable[[], T]], Refreshed[T]]:
    """Decorator: @refreshed_every(2.0) on a function of no arguments."""
    return lambda load: Refreshed(load, seconds=seconds)
