"""Public identifiers: prefixed, time-ordered and not guessable (ULID layout)."""

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """48 bits of milliseconds then 80 random bits, as 26 Crockford base32 characters.
    Time order keeps new rows at the right edge of the primary-key index."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_event_id() -> str:
    return "evt_" + ulid()
