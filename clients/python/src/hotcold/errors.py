"""What the client raises and warns with."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple


class HotcoldError(Exception):
    """Base of every error this client raises."""


class FrameError(HotcoldError, ValueError):
    """A frame given to `ingest` that does not fit the table: a missing or
    unknown column, a null, a value of the wrong kind, a time finer than a
    millisecond. Raised before anything is sent."""


class ServerError(HotcoldError):
    """The server refused the request; `message` is its own text."""

    def __init__(self, status: int, message: str, body: Optional[dict] = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.body = body or {}


class MissingRangesError(ServerError):
    """Part of the cold history could not be read (the NAS is offline, say),
    so the server answered nothing rather than a short answer. `missing`
    holds the ranges as (start_ms, end_ms); ask again with
    `require_complete=False` for the rest."""

    def __init__(self, status: int, message: str, body: Optional[dict] = None):
        super().__init__(status, message, body)
        self.missing: List[Tuple[int, int]] = parse_missing((body or {}).get("missing"))
        self.reason: Optional[str] = (body or {}).get("missing_reason")


class IncompleteAnswerError(HotcoldError):
    """A streamed answer broke off before its end (the server aborts the
    body when a part fails after the first byte): what arrived is not the
    whole answer, so none of it is returned."""


class MissingRangesWarning(UserWarning):
    """An answer asked for with `require_complete=False` lacks some cold
    ranges; they are named in the message and in `hotcold.signals(result)`."""


class TruncatedWarning(UserWarning):
    """The server cut the answer at its row limit (`query.max-rows`)."""


def parse_missing(v: Any) -> List[Tuple[int, int]]:
    """Missing ranges as the server writes them: a JSON list of
    {"start", "end"} or the metadata text `START-END,START-END`."""
    out: List[Tuple[int, int]] = []
    if isinstance(v, list):
        for r in v:
            if isinstance(r, dict) and "start" in r and "end" in r:
                out.append((int(r["start"]), int(r["end"])))
    elif isinstance(v, str) and v:
        for part in v.split(","):
            # A start may be negative: split at the dash after the first digit.
            cut = part.find("-", 1)
            if cut > 0:
                out.append((int(part[:cut]), int(part[cut + 1:])))
    return out
