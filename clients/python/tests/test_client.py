"""The client against a live pair (see conftest.py): every answer compared
with the rows the harness ingested, across hot and cold."""
import collections
import time
import datetime as dt
import decimal
import uuid
import warnings

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import hotcold

DAY = 86_400_000


def test_tables_lists_columns_in_schema_order(client):
    names = [t["name"] for t in client.tables()]
    assert "trades" in names and "ev" in names
    cols = [(c["name"], c["type"]) for c in client.table("trades")["columns"]]
    assert cols[0] == ("ts", "timestamp_ms")
    assert ("price", "decimal(8)") in cols


def test_query_pandas_is_every_row_exact_across_hot_and_cold(client, span, truth):
    df = client.query("trades", *span)
    assert len(df) == len(truth)
    sig = hotcold.signals(df)
    assert sig["hot_rows"] > 0 and sig["cold_rows"] > 0, sig
    assert sig["hot_rows"] + sig["cold_rows"] == len(truth)
    assert sig["watermark"] is not None and span[0] < sig["watermark"] < span[1]
    assert not sig["missing"] and not sig["truncated"]
    assert str(df["ts"].dtype) in ("datetime64[ms, UTC]", "datetime64[ns, UTC]")
    got = sorted(
        (t.value // 1_000_000, int(i), p, a)
        for t, i, p, a in zip(df["ts"], df["trade_id"], df["price"], df["amount"])
    )
    want = [(r["ts"], r["trade_id"], r["price"], r["amount"]) for r in truth]
    assert got == want
    assert all(isinstance(p, decimal.Decimal) for p in df["price"].head(10))
    assert isinstance(df["symbol"].dtype, pd.CategoricalDtype)


def test_query_arrow_and_polars_types(client, span, truth):
    t = client.query("trades", *span, output="arrow")
    assert isinstance(t, pa.Table) and t.num_rows == len(truth)
    assert t.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert t.schema.field("price").type == pa.decimal128(38, 8)
    assert pa.types.is_dictionary(t.schema.field("symbol").type)
    assert t.schema.field("trade_id").type == pa.uint64()
    assert t.schema.field("buyer_maker").type == pa.bool_()
    p = client.query("trades", *span, output="polars")
    assert isinstance(p, pl.DataFrame) and p.height == len(truth)
    assert p["price"].dtype == pl.Decimal(38, 8)
    assert sum(p["amount"].to_list()) == sum(r["amount"] for r in truth)
    assert client.last_signals["cold_rows"] > 0


def test_filters_columns_limit_and_order(client, span, truth):
    want = [r for r in truth if r["symbol"] in ("BTC-USDT", "ETH-USDT")]
    df = client.query("trades", *span, symbol=["BTC-USDT", "ETH-USDT"], columns=["ts", "symbol", "price"])
    assert list(df.columns) == ["ts", "symbol", "price"]
    assert len(df) == len(want)
    assert sorted(df["price"]) == sorted(r["price"] for r in want)
    one = client.query("trades", *span, filters={"exchange": "okx"}, output="arrow")
    assert one.num_rows == sum(r["exchange"] == "okx" for r in truth)
    last = client.query("trades", *span, order="desc", limit=5, output="arrow")
    assert last.column("ts").cast(pa.int64()).to_pylist() == sorted((r["ts"] for r in truth), reverse=True)[:5]


def test_time_arguments_in_every_form(client, span, truth):
    start = dt.datetime.fromtimestamp(span[0] / 1000, tz=dt.timezone.utc)
    end = start + dt.timedelta(days=2)
    forms = [
        (span[0], span[0] + 2 * DAY),
        (start, end),
        (start.replace(tzinfo=None), end.replace(tzinfo=None)),  # naive is UTC
        (start.date(), end.date()),
        (start.date().isoformat(), end.isoformat().replace("+00:00", "Z")),
        (pd.Timestamp(start), pd.Timestamp(end)),
    ]
    want = sum(span[0] <= r["ts"] < span[0] + 2 * DAY for r in truth)
    for a, b in forms:
        assert client.query("trades", a, b, output="arrow").num_rows == want, (a, b)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        client.query("trades", "yesterday", b)


def test_bars_across_the_watermark(client, span, truth):
    bars = client.bars("trades", *span, interval="1d", group_by=[], volume="amount")
    days = collections.Counter((r["ts"] // DAY) * DAY for r in truth)
    vol = collections.defaultdict(decimal.Decimal)
    for r in truth:
        vol[(r["ts"] // DAY) * DAY] += r["amount"]
    got = {t.value // 1_000_000: (int(n), v) for t, n, v in zip(bars["ts"], bars["count"], bars["volume"])}
    assert got == {d: (n, vol[d]) for d, n in days.items()}


def test_aggregate_grouped_sums_are_exact(client, span, truth):
    agg = client.aggregate("trades", *span, agg=["count", "sum:amount", "max:price"],
                           group_by=["symbol"], output="arrow")
    want = collections.defaultdict(lambda: [0, decimal.Decimal(0), None])
    for r in truth:
        w = want[r["symbol"]]
        w[0] += 1
        w[1] += r["amount"]
        w[2] = r["price"] if w[2] is None else max(w[2], r["price"])
    got = {
        s: [n, a, p]
        for s, n, a, p in zip(*(agg.column(c).to_pylist() for c in ("symbol", "count", "sum_amount", "max_price")))
    }
    assert got == {k: v for k, v in want.items()}


def test_iter_batches_streams_the_whole_answer(client, span, truth):
    seen, batches = 0, 0
    for b in client.iter_batches("trades", *span, symbol="BTC-USDT"):
        assert isinstance(b, pa.RecordBatch)
        seen += b.num_rows
        batches += 1
    assert seen == sum(r["symbol"] == "BTC-USDT" for r in truth)
    assert batches >= 1


def _recent_frame(n, seed, hours_ago):
    """`n` rows of every type, a second apart, ending `hours_ago` hours
    ago: each test writes its own stretch of the hot range."""
    now = (int(dt.datetime.now(dt.timezone.utc).timestamp()) - hours_ago * 3600) * 1000
    return pd.DataFrame({
        "ts": pd.to_datetime([now - i * 1000 for i in range(n)], unit="ms", utc=True),
        "d": [dt.date(2026, 1, 1) + dt.timedelta(days=i % 300) for i in range(n)],
        "s": [f"note {seed} {i} ü" for i in range(n)],
        "lc": pd.Categorical([["binance", "okx"][i % 2] for i in range(n)]),
        "px": [decimal.Decimal(f"{i}.{seed:08d}") * (-1 if i % 3 == 0 else 1) for i in range(n)],
        "i8": [(i % 256) - 128 for i in range(n)],
        "i32": [i * 1000 - 2**31 + 1 for i in range(n)],
        "u64": [2**64 - 1 - i for i in range(n)],
        "f": [i / 7 for i in range(n)],
        "b": [i % 2 == 0 for i in range(n)],
    })


def test_iter_batches_streams_a_large_answer(client):
    """An answer over the server's whole-answer size (1 MiB of arrays) is
    streamed: its schema goes out before its end, so `truncated` is
    unknown, and the batches arrive one by one, every row as ingested."""
    frame = _recent_frame(30_000, seed=11, hours_ago=20)
    assert client.ingest("ev", frame) == 30_000
    lo = frame["ts"].min().value // 1_000_000
    hi = frame["ts"].max().value // 1_000_000 + 1
    batches = list(client.iter_batches("ev", lo, hi))
    assert len(batches) > 1
    sig = client.last_signals
    assert sig["streamed"] is True and sig["truncated"] is None, sig
    t = pa.Table.from_batches(batches)
    assert t.num_rows == 30_000
    assert sorted(zip(*(t.column(c).to_pylist() for c in COLS))) == _rows_of(frame)


def _read_back(client, frame):
    lo = frame["ts"].min().value // 1_000_000
    hi = frame["ts"].max().value // 1_000_000 + 1
    t = client.query("ev", lo, hi, output="arrow")
    return sorted(zip(*(t.column(c).to_pylist() for c in COLS)))


COLS = ("ts", "s", "lc", "px", "u64", "i32", "d", "b", "i8", "f")


def _rows_of(frame):
    """The frame's rows in `COLS` order, as the Arrow answer gives them."""
    return sorted(zip(
        [t.to_pydatetime() for t in frame["ts"]], frame["s"], [str(x) for x in frame["lc"]],
        frame["px"], frame["u64"], frame["i32"], frame["d"], frame["b"], frame["i8"], frame["f"],
    ))


@pytest.mark.parametrize("fmt", ["ndjson", "rowbinary"])
def test_ingest_round_trips_every_type(client, fmt):
    frame = _recent_frame(1_000, seed=1, hours_ago=1 if fmt == "ndjson" else 2)
    assert client.ingest("ev", frame, format=fmt, batch_rows=300) == len(frame)
    assert _read_back(client, frame) == _rows_of(frame)


def test_ingest_from_polars_and_pyarrow(client):
    frame = _recent_frame(50, seed=3, hours_ago=3)
    as_pl = pl.from_pandas(frame.assign(lc=frame["lc"].astype(str)))
    assert client.ingest("ev", as_pl, format="rowbinary") == 50
    assert _read_back(client, frame) == _rows_of(frame)
    frame = _recent_frame(50, seed=3, hours_ago=4)
    assert client.ingest("ev", pa.Table.from_pandas(frame, preserve_index=False)) == 50
    assert _read_back(client, frame) == _rows_of(frame)


def test_ingest_retry_with_the_same_key_is_stored_once(client):
    frame = _recent_frame(40, seed=4, hours_ago=5)
    key = uuid.uuid4().hex
    assert client.ingest("ev", frame, idempotency_key=key, batch_rows=15) == 40
    # The same batches again, seconds later (a resume after a failure):
    # replayed, byte for byte the same bodies (gzip carries no time).
    time.sleep(1.1)
    assert client.ingest("ev", frame, idempotency_key=key, batch_rows=15) == 40
    assert _read_back(client, frame) == _rows_of(frame)


def test_a_collector_with_only_the_ingest_token_can_ingest(client):
    collector = hotcold.Client(client.url, token=client.ingest_token)
    frame = _recent_frame(20, seed=7, hours_ago=9)
    assert collector.ingest("ev", frame) == 20
    assert _read_back(client, frame) == _rows_of(frame)


def test_a_failed_batch_says_how_far_ingest_got(client):
    frame = _recent_frame(30, seed=8, hours_ago=10)
    bad = frame.astype({"ts": object})
    bad.loc[25, "ts"] = "2026-11-20T10:00:00+Europe/Paris"
    with pytest.raises(hotcold.ServerError) as e:
        client.ingest("ev", bad.assign(ts=[str(t) if not isinstance(t, str) else t for t in bad["ts"]]),
                      batch_rows=10)
    assert e.value.status == 400
    assert e.value.batches_done == 2 and e.value.rows_stored == 20, vars(e.value)


def test_bad_frames_are_refused_before_sending(client):
    frame = _recent_frame(10, seed=5, hours_ago=7)
    with pytest.raises(hotcold.FrameError, match="lacks column.*b"):
        client.ingest("ev", frame.drop(columns=["b"]))
    with pytest.raises(hotcold.FrameError, match="extra"):
        client.ingest("ev", frame.assign(extra=1))
    nulls = frame.astype({"s": object})
    nulls.loc[3, "s"] = None
    with pytest.raises(hotcold.FrameError, match="column s: 1 null"):
        client.ingest("ev", nulls)
    fine = frame.assign(ts=frame["ts"].astype("datetime64[ns, UTC]") + pd.Timedelta(microseconds=1))
    with pytest.raises(hotcold.FrameError, match="column ts: 10 value.*finer than a millisecond"):
        client.ingest("ev", fine)
    with pytest.raises(hotcold.FrameError, match="column i8"):
        client.ingest("ev", frame.assign(i8=[1.5] * 10))
    with pytest.raises(hotcold.FrameError, match="does not fit int8"):
        client.ingest("ev", frame.assign(i8=[300] * 10), format="rowbinary")
    with pytest.raises(hotcold.FrameError, match="cannot ingest a str"):
        client.ingest("ev", "not a frame")
    assert _read_back(client, frame) == [], "nothing of a refused frame was stored"


def test_server_errors_carry_the_servers_text(client, span):
    with pytest.raises(hotcold.ServerError) as e:
        client.query("nosuch", *span)
    assert e.value.status == 404 and "known:" in e.value.message and "trades" in e.value.message
    with pytest.raises(hotcold.ServerError) as e:
        client.bars("trades", *span, interval="7x")
    assert e.value.status == 400 and "interval" in e.value.message
    # The server's own check of a value the client passes through as text.
    frame = _recent_frame(3, seed=6, hours_ago=8).assign(ts=["2026-11-20T10:00:00.123+Europe/Paris"] * 3)
    with pytest.raises(hotcold.ServerError) as e:
        client.ingest("ev", frame)
    assert e.value.status == 400 and "ts" in e.value.message


def test_tokens_are_sent_and_needed(client, span):
    anon = hotcold.Client(client.url)
    with pytest.raises(hotcold.ServerError) as e:
        anon.query("trades", *span)
    assert e.value.status == 401
    wrong_role = hotcold.Client(client.url, token=client.ingest_token)
    with pytest.raises(hotcold.ServerError) as e:
        wrong_role.query("trades", *span)
    assert e.value.status in (401, 403)


@pytest.mark.gateway_down
def test_missing_cold_range_raises_by_default(client, span):
    # A filter no earlier test used: the cloud's cache of cold answers
    # cannot answer it.
    with pytest.raises(hotcold.MissingRangesError) as e:
        client.query("trades", *span, exchange="bybit")
    assert e.value.status == 503 and e.value.missing, e.value.body
    lo, hi = e.value.missing[0]
    assert span[0] <= lo < hi <= span[1]
    assert "allow_partial" in e.value.message


@pytest.mark.gateway_down
def test_missing_cold_range_warns_with_require_complete_false(client, span, truth):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = client.query("trades", *span, exchange="bybit", require_complete=False, output="arrow")
    assert any(issubclass(x.category, hotcold.MissingRangesWarning) for x in w), [str(x.message) for x in w]
    sig = hotcold.signals(t)
    assert sig["missing"] and sig["cold_rows"] == 0
    wm = sig["watermark"]
    assert t.num_rows == sum(r["ts"] >= wm and r["exchange"] == "bybit" for r in truth), "the hot rows, whole"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = client.query("trades", *span, exchange="bybit", require_complete=False)
    assert hotcold.signals(df)["missing"] == sig["missing"]
