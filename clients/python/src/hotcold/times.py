"""Instants as the API takes them: epoch milliseconds, UTC."""
from __future__ import annotations

import datetime as dt
import numbers
from typing import Union

Instant = Union[int, str, dt.datetime, dt.date]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_ms(v: Instant, name: str = "time") -> int:
    """`v` as epoch ms: an int is taken as ms, a naive datetime as UTC, a
    date as its UTC midnight, text as ISO 8601 (`2026-11-20`,
    `2026-11-20T10:00:00.123Z`, any offset). pandas Timestamps are
    datetimes. Finer than a millisecond is refused."""
    if isinstance(v, bool):
        raise TypeError(f"{name}: a bool is not a time")
    if isinstance(v, numbers.Integral):
        return int(v)
    if getattr(v, "nanosecond", 0):
        raise ValueError(f"{name}: {v} is finer than a millisecond")
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, str):
        text = v.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            v = dt.datetime.fromisoformat(text) if len(text) > 10 else dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}: {v!r} is not an ISO 8601 date or time") from None
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        if v.microsecond % 1000:
            raise ValueError(f"{name}: {v.isoformat()} is finer than a millisecond")
        delta = v - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(v, dt.date):
        return (v - _EPOCH.date()).days * 86_400_000
    raise TypeError(f"{name}: {type(v).__name__} is not a time (int ms, str, datetime or date)")
