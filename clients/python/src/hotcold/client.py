"""The client: queries answered in Arrow and turned into what the caller
asked for, and ingest in checked batches."""
from __future__ import annotations

import decimal
import gzip
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Literal, Optional, Sequence, Tuple, Union

import pyarrow as pa
import pyarrow.ipc as ipc

from . import ingest as _ingest
from .errors import (
    HotcoldError,
    IncompleteAnswerError,
    MissingRangesError,
    MissingRangesWarning,
    ServerError,
    TruncatedWarning,
    parse_missing,
)
from .times import Instant, to_ms

Output = Literal["pandas", "polars", "arrow"]
FilterValue = Union[str, int, float, bool, Sequence[Union[str, int, float, bool]]]

# Parameter names of the query endpoints: a filter on a column of the same
# name is sent as `eq.NAME` so the two never mix.
_RESERVED = {
    "from", "to", "limit", "order", "format", "columns", "allow_partial",
    "require_complete", "interval", "price", "volume", "group_by", "agg",
}
_SIGNALS = "hotcold"


class Client:
    """A cloud-service at `url` (`http://host:8080`).

    `token` is the bearer token for queries (the read or admin token);
    `ingest_token` the collectors' one, `token` if not given. `timeout` is
    per request, in seconds, for each read of a streamed answer too."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        ingest_token: Optional[str] = None,
        timeout: float = 300.0,
        retries: int = 3,
    ):
        self.url = url.rstrip("/")
        self.token = token
        self.ingest_token = ingest_token or token
        self.timeout = timeout
        self.retries = retries
        self._schemas: Dict[str, dict] = {}
        #: The signals of the last answer (see `signals`): the only place a
        #: polars answer's signals are kept.
        self.last_signals: Dict[str, Any] = {}

    # -- tables ---------------------------------------------------------

    def tables(self) -> List[dict]:
        """The configured tables: name, time column, columns with types."""
        with self._request("GET", "/v1/tables", token=self.token) as r:
            return json.load(r)["tables"]

    def table(self, name: str, *, _token: Optional[str] = None) -> dict:
        """One table's columns in schema order (cached). The read or the
        ingest token opens it."""
        if name not in self._schemas:
            path = "/v1/tables/" + urllib.parse.quote(name, safe="")
            with self._request("GET", path, token=_token or self.token) as r:
                self._schemas[name] = json.load(r)
        return self._schemas[name]

    # -- queries --------------------------------------------------------

    def query(
        self,
        table: str,
        start: Instant,
        end: Instant,
        *,
        columns: Optional[Sequence[str]] = None,
        limit: Optional[int] = None,
        order: Literal["asc", "desc"] = "asc",
        require_complete: bool = True,
        output: Output = "pandas",
        filters: Optional[Dict[str, FilterValue]] = None,
        **column_filters: FilterValue,
    ) -> Any:
        """Rows of `table` in `[start, end)`, each once across hot and cold.

        Filters: `symbol="BTC-USDT"` or `symbol=["BTC-USDT", "ETH-USDT"]`
        (or `filters={...}` for a column whose name is not a Python
        identifier). Raises `MissingRangesError` when part of the cold
        history cannot be read, unless `require_complete=False` (then the
        rest, with a `MissingRangesWarning`)."""
        params = self._params(start, end, filters, column_filters, require_complete,
                              columns=columns, limit=limit, order=order)
        return self._answer("query", table, params, output, limit)

    def bars(
        self,
        table: str,
        start: Instant,
        end: Instant,
        interval: str = "1m",
        *,
        price: Optional[str] = None,
        volume: Optional[str] = None,
        group_by: Optional[Sequence[str]] = None,
        limit: Optional[int] = None,
        order: Literal["asc", "desc"] = "asc",
        require_complete: bool = True,
        output: Output = "pandas",
        filters: Optional[Dict[str, FilterValue]] = None,
        **column_filters: FilterValue,
    ) -> Any:
        """OHLCV bars of `interval` (1s to 1d, UTC-aligned), merged across
        the watermark by the server."""
        params = self._params(start, end, filters, column_filters, require_complete,
                              interval=interval, price=price, volume=volume,
                              group_by=group_by, limit=limit, order=order)
        return self._answer("bars", table, params, output, limit)

    def aggregate(
        self,
        table: str,
        start: Instant,
        end: Instant,
        agg: Sequence[str] = ("count",),
        *,
        group_by: Optional[Sequence[str]] = None,
        interval: Optional[str] = None,
        limit: Optional[int] = None,
        order: Literal["asc", "desc"] = "asc",
        require_complete: bool = True,
        output: Output = "pandas",
        filters: Optional[Dict[str, FilterValue]] = None,
        **column_filters: FilterValue,
    ) -> Any:
        """Statistics per group (and per `interval` bucket): `agg` of
        `count`, `sum:COL`, `min:COL`, `max:COL`, `avg:COL`. Sums are exact
        or a `ServerError` naming the overflow."""
        params = self._params(start, end, filters, column_filters, require_complete,
                              agg=list(agg), group_by=group_by, interval=interval,
                              limit=limit, order=order)
        return self._answer("aggregate", table, params, output, limit)

    def iter_batches(
        self,
        table: str,
        start: Instant,
        end: Instant,
        *,
        kind: Literal["query", "bars", "aggregate"] = "query",
        require_complete: bool = True,
        filters: Optional[Dict[str, FilterValue]] = None,
        **params: Any,
    ) -> Iterator[pa.RecordBatch]:
        """The answer as pyarrow RecordBatches, as they arrive: a year of
        trades in bounded memory. Keyword arguments are those of `query`
        (`bars`, `aggregate` with `kind`); unknown ones are column filters.
        A stream that breaks off raises `IncompleteAnswerError`."""
        named = {k: params.pop(k) for k in list(params) if k in _RESERVED}
        q = self._params(start, end, filters, params, require_complete, **named)
        q.append(("format", "arrow"))
        path = f"/v1/{kind}/" + urllib.parse.quote(table, safe="")
        resp = self._request("GET", path, params=q, token=self.token)
        with resp:
            try:
                reader = ipc.open_stream(resp)
                self.last_signals = _signals(reader.schema.metadata, resp.headers)
                self._warn(self.last_signals, named.get("limit"))
                for batch in reader:
                    yield batch
            except (pa.ArrowInvalid, OSError, http.client.HTTPException) as e:
                raise IncompleteAnswerError(f"the answer broke off: {e}") from e

    # -- ingest ---------------------------------------------------------

    def ingest(
        self,
        table: str,
        frame: Any,
        *,
        format: Literal["ndjson", "rowbinary"] = "ndjson",
        batch_rows: int = 50_000,
        idempotency_key: Optional[str] = None,
        compress: bool = True,
    ) -> int:
        """Sends `frame` (pandas or polars DataFrame, pyarrow Table, list of
        dicts) to `table` in batches of `batch_rows`; returns the rows the
        server took. The frame is checked against the table's columns
        first (`FrameError`, nothing sent). Each batch carries an
        Idempotency-Key (`idempotency_key:N`, a random key by default), so
        a batch retried after a lost answer is stored once. When a batch
        fails, the error raised has `ingest_key`, `batches_done` and
        `rows_stored`: call again with `idempotency_key=e.ingest_key` (same
        frame, same `batch_rows`) to resume without storing anything twice."""
        if format not in _ingest.BODIES:
            raise ValueError(f"format must be 'ndjson' or 'rowbinary', not {format!r}")
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        schema = self.table(table, _token=self.ingest_token)
        data = _ingest.as_table(frame)
        _ingest.check_columns(data, schema)
        bodies = _ingest.BODIES[format](data, schema, batch_rows)
        key = idempotency_key or uuid.uuid4().hex
        path = "/v1/ingest/" + urllib.parse.quote(table, safe="")
        total = 0
        for i, body in enumerate(bodies):
            try:
                total += self._ingest_one(path, format, body, f"{key}:{i}", compress)
            except HotcoldError as e:
                # Where the call stopped, so it can be resumed: the same key,
                # frame and batch size replay the stored batches.
                e.ingest_key, e.batches_done, e.rows_stored = key, i, total
                if hasattr(e, "add_note"):
                    e.add_note(f"after {i} batch(es), {total} rows stored; call ingest again with "
                               f"idempotency_key={key!r} and the same batch_rows to resume")
                raise
        return total

    def _ingest_one(self, path: str, format: str, body: bytes, key: str, compress: bool) -> int:
        headers = {"Idempotency-Key": key}
        if compress:
            # mtime=0: the same rows give the same bytes, so a retry with
            # the same key is a replay, not "another request" (422).
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        with self._request("POST", path, params=[("format", format)], body=body,
                           headers=headers, token=self.ingest_token) as r:
            return int(json.load(r).get("rows", 0))

    # -- internals ------------------------------------------------------

    def _params(
        self,
        start: Instant,
        end: Instant,
        filters: Optional[Dict[str, FilterValue]],
        column_filters: Dict[str, FilterValue],
        require_complete: bool,
        **named: Any,
    ) -> List[Tuple[str, str]]:
        q = [("from", str(to_ms(start, "start"))), ("to", str(to_ms(end, "end")))]
        for k, v in named.items():
            if v is None:
                continue
            if isinstance(v, (list, tuple)):
                v = ",".join(str(x) for x in v)
            q.append((k, str(v)))
        if not require_complete:
            q.append(("allow_partial", "true"))
        for col, v in {**(filters or {}), **column_filters}.items():
            key = f"eq.{col}" if col in _RESERVED else col
            values = v if isinstance(v, (list, tuple, set)) else [v]
            for x in values:
                q.append((key, _text(x)))
        return q

    def _answer(self, kind: str, table: str, params: List[Tuple[str, str]],
                output: Output, limit: Optional[int]) -> Any:
        if output not in ("pandas", "polars", "arrow"):
            raise ValueError(f"output must be 'pandas', 'polars' or 'arrow', not {output!r}")
        params = params + [("format", "arrow")]
        path = f"/v1/{kind}/" + urllib.parse.quote(table, safe="")
        with self._request("GET", path, params=params, token=self.token) as resp:
            try:
                reader = ipc.open_stream(resp)
                result = reader.read_all()
            except (pa.ArrowInvalid, OSError, http.client.HTTPException) as e:
                raise IncompleteAnswerError(f"the answer broke off: {e}") from e
            sig = _signals(result.schema.metadata, resp.headers)
        self.last_signals = sig
        self._warn(sig, limit)
        if output == "arrow":
            return result
        if output == "polars":
            import polars as pl

            return pl.from_arrow(result)
        df = result.to_pandas()
        df.attrs[_SIGNALS] = sig
        return df

    def _warn(self, sig: Dict[str, Any], limit: Optional[int]) -> None:
        if sig.get("missing"):
            ranges = ", ".join(f"{a}-{b}" for a, b in sig["missing"])
            warnings.warn(
                MissingRangesWarning(
                    f"the answer lacks cold range(s) {ranges} ({sig.get('missing_reason') or 'unavailable'})"
                ),
                stacklevel=3,
            )
        if sig.get("truncated") and limit is None:
            warnings.warn(
                TruncatedWarning("the server cut the answer at its row limit (query.max-rows); "
                                 "ask for a narrower range or pass limit"),
                stacklevel=3,
            )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Iterable[Tuple[str, str]]] = None,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        token: Optional[str] = None,
    ) -> http.client.HTTPResponse:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(list(params))
        h = {"User-Agent": "hotcold-python/0.1", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, method=method, headers=h)
            try:
                return urllib.request.urlopen(req, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                err = _server_error(e)
                wait = _retry_after(e.headers.get("Retry-After") if e.headers else None)
                busy = e.code == 503 and wait is not None and not isinstance(err, MissingRangesError)
                if busy and attempt < self.retries:
                    time.sleep(wait)
                    continue
                raise err from None
            except (OSError, http.client.HTTPException) as e:
                # No answer (refused, reset, timed out, closed before the
                # status line): safe to send again for reads, and for ingest
                # too (the Idempotency-Key stores a batch once).
                if attempt < self.retries:
                    time.sleep(min(0.5 * 2**attempt, 30.0))
                    continue
                reason = getattr(e, "reason", None) or e
                raise HotcoldError(f"{method} {self.url}{path}: {reason}") from e
        raise HotcoldError(f"{method} {self.url}{path}: no answer")  # pragma: no cover


def signals(result: Any) -> Dict[str, Any]:
    """The answer's signals: `watermark` (epoch ms), `missing` [(start_ms,
    end_ms)], `missing_reason`, `truncated`, `hot_rows`, `cold_rows`,
    `streamed`. From a pyarrow Table's metadata or a pandas DataFrame's
    `attrs`; for polars use `Client.last_signals`."""
    if isinstance(result, pa.Table):
        return _signals(result.schema.metadata, {})
    attrs = getattr(result, "attrs", None)
    if isinstance(attrs, dict) and _SIGNALS in attrs:
        return attrs[_SIGNALS]
    raise TypeError("signals() takes a pyarrow Table or a pandas DataFrame from this client")


def _signals(meta: Optional[Dict[bytes, bytes]], headers: Any) -> Dict[str, Any]:
    m = {k.decode(): v.decode() for k, v in (meta or {}).items()}

    def get(key: str, header: str) -> Optional[str]:
        v = m.get(f"hotcold.{key}")
        if v is None and headers is not None:
            v = headers.get(f"x-hotcold-{header}")
        return v

    def num(v: Optional[str]) -> Optional[int]:
        return int(v) if v not in (None, "") else None

    return {
        "watermark": num(get("watermark", "watermark")),
        "missing": parse_missing(get("missing", "missing") or ""),
        "missing_reason": m.get("hotcold.missing_reason"),
        # A streamed answer's schema went out before its end was known:
        # whether the server's row limit cut it is unknown (None), not no.
        "truncated": None
        if m.get("hotcold.streamed") == "true" and get("truncated", "truncated") is None
        else (get("truncated", "truncated") or "false") == "true",
        "hot_rows": num(m.get("hotcold.hot_rows")),
        "cold_rows": num(m.get("hotcold.cold_rows")),
        "streamed": m.get("hotcold.streamed") == "true",
    }


def _retry_after(v: Optional[str]) -> Optional[float]:
    """Seconds to wait; an HTTP-date or garbage counts as one second."""
    if v is None:
        return None
    try:
        return min(max(float(v), 0.0), 30.0)
    except ValueError:
        return 1.0


def _server_error(e: urllib.error.HTTPError) -> ServerError:
    # Bounded: an error is a short JSON object.
    raw = e.read(64 << 10) if e.fp is not None else b""
    try:
        body = json.loads(raw)
        message = body.get("error") or raw.decode(errors="replace")
    except (ValueError, AttributeError):
        body, message = {}, raw.decode(errors="replace") or e.reason
    if e.code == 503 and isinstance(body, dict) and body.get("missing"):
        return MissingRangesError(e.code, message, body)
    return ServerError(e.code, str(message), body if isinstance(body, dict) else {})


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)
