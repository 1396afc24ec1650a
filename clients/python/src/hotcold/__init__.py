"""hotcold: query market time series across the hot (cloud) and cold (NAS)
tiers as pandas, polars or pyarrow, with Arrow on the wire; ingest frames.

    import hotcold
    c = hotcold.Client("http://127.0.0.1:8080", token="...")
    df = c.query("trades", "2026-11-01", "2026-11-20", symbol="BTC-USDT")
"""
from .client import Client, signals
from .errors import (
    FrameError,
    HotcoldError,
    IncompleteAnswerError,
    MissingRangesError,
    MissingRangesWarning,
    ServerError,
    TruncatedWarning,
)

__all__ = [
    "Client",
    "signals",
    "FrameError",
    "HotcoldError",
    "IncompleteAnswerError",
    "MissingRangesError",
    "MissingRangesWarning",
    "ServerError",
    "TruncatedWarning",
]
__version__ = "0.1.0"
