"""Frames into request bodies: checked against the table's columns, then
written as NDJSON lines or RowBinary rows (the table's columns in schema
order, little-endian), `batch_rows` rows per body."""
from __future__ import annotations

import decimal
import json
import struct
from typing import Any, Callable, Dict, Iterator, List, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .errors import FrameError

_INTS = {
    "int8": ("<b", -(1 << 7), (1 << 7) - 1),
    "int16": ("<h", -(1 << 15), (1 << 15) - 1),
    "int32": ("<i", -(1 << 31), (1 << 31) - 1),
    "int64": ("<q", -(1 << 63), (1 << 63) - 1),
    "uint8": ("<B", 0, (1 << 8) - 1),
    "uint16": ("<H", 0, (1 << 16) - 1),
    "uint32": ("<I", 0, (1 << 32) - 1),
    "uint64": ("<Q", 0, (1 << 64) - 1),
}
_UNIT_MS = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}


def as_table(frame: Any) -> pa.Table:
    """A pyarrow Table from what users hold: a pyarrow Table or
    RecordBatch, a pandas or polars DataFrame, or a list of dicts."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if isinstance(frame, list):
        return pa.Table.from_pylist(frame)
    mod = type(frame).__module__
    if mod.startswith("polars"):
        return frame.to_arrow()
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise FrameError(
        f"cannot ingest a {type(frame).__name__}: give a pandas or polars DataFrame, "
        "a pyarrow Table or RecordBatch, or a list of dicts"
    )


def check_columns(table: pa.Table, schema: dict) -> None:
    declared = [c["name"] for c in schema["columns"]]
    have = set(table.column_names)
    missing = [c for c in declared if c not in have]
    unknown = [c for c in table.column_names if c not in set(declared)]
    name = schema["name"]
    if missing:
        raise FrameError(f"table {name}: the frame lacks column(s) {', '.join(missing)}")
    if unknown:
        raise FrameError(
            f"table {name}: the frame has column(s) {', '.join(unknown)} the table does not "
            f"declare (its columns: {', '.join(declared)})"
        )
    for c in declared:
        nulls = table.column(c).null_count
        if nulls:
            raise FrameError(f"column {c}: {nulls} null value(s); every cell needs a value")


def _ms_values(col: pa.ChunkedArray, name: str) -> List[Any]:
    """A timestamp column as epoch ms (ints); text passes through for the
    server to parse (ClickHouse text, RFC 3339 with any offset)."""
    t = col.type
    if pa.types.is_timestamp(t):
        raw = pc.cast(col, pa.int64())
        if t.unit == "s":
            return [v * 1000 for v in raw.to_pylist()]
        per_ms = _UNIT_MS[t.unit]
        if per_ms > 1:
            # raw - (raw // per_ms) * per_ms, in kernels every pyarrow has
            # (the remainder kernel is recent).
            whole = pc.multiply(pc.divide(raw, per_ms), per_ms)
            rem = pc.sum(pc.not_equal(pc.subtract(raw, whole), 0)).as_py() or 0
            if rem:
                raise FrameError(
                    f"column {name}: {rem} value(s) are finer than a millisecond "
                    "(the column keeps milliseconds); round them first"
                )
            raw = pc.divide(raw, per_ms)
        return raw.to_pylist()
    if pa.types.is_integer(t):
        return col.to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.to_pylist()
    if pa.types.is_date(t):
        return [v * 86_400_000 for v in pc.cast(col, pa.int32()).to_pylist()]
    raise FrameError(f"column {name}: {t} cannot be a timestamp_ms (give timestamps, epoch ms or text)")


def _day_values(col: pa.ChunkedArray, name: str) -> List[Any]:
    t = col.type
    if pa.types.is_date(t):
        return pc.cast(col, pa.date32()).cast(pa.int32()).to_pylist()
    if pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.to_pylist()
    if pa.types.is_timestamp(t):
        ms = _ms_values(col, name)
        for v in ms:
            if v % 86_400_000:
                raise FrameError(f"column {name}: {v} ms is not a UTC midnight, and the column keeps dates")
        return [v // 86_400_000 for v in ms]
    raise FrameError(f"column {name}: {t} cannot be a date")


def _decimal_texts(col: pa.ChunkedArray, name: str, scale: int) -> List[str]:
    t = col.type
    if pa.types.is_decimal(t):
        # Positional text: str() of a Decimal may say 0E-8.
        return [format(v, "f") for v in col.to_pylist()]
    if pa.types.is_integer(t):
        return [str(v) for v in col.to_pylist()]
    if pa.types.is_floating(t):
        # repr is the shortest text that reads back as the same float
        # (1e-05 written out positionally); the server refuses more digits
        # than the scale instead of rounding.
        return [format(decimal.Decimal(repr(float(v))), "f") for v in col.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.to_pylist()
    raise FrameError(f"column {name}: {t} cannot be a decimal({scale})")


def _cells(col: pa.ChunkedArray, name: str, ty: str) -> List[Any]:
    """Column values in the form NDJSON carries (times as ms or text,
    decimals as text, the rest as JSON values)."""
    t = col.type
    if pa.types.is_dictionary(t):
        col = pc.cast(col, t.value_type)
        t = col.type
    if ty == "timestamp_ms":
        return _ms_values(col, name)
    if ty == "date":
        return _day_values(col, name)
    if ty.startswith("decimal("):
        return _decimal_texts(col, name, int(ty[len("decimal("):-1]))
    if ty in _INTS:
        if not pa.types.is_integer(t):
            raise FrameError(f"column {name}: {t} values for an {ty} column (give integers)")
        return col.to_pylist()
    if ty == "float64":
        if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise FrameError(f"column {name}: {t} values for a float64 column")
        return [float(v) for v in col.to_pylist()]
    if ty == "bool":
        if not pa.types.is_boolean(t):
            raise FrameError(f"column {name}: {t} values for a bool column")
        return col.to_pylist()
    if ty in ("string", "lc_string"):
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise FrameError(f"column {name}: {t} values for a {ty} column (give text)")
        return col.to_pylist()
    raise FrameError(f"column {name}: unknown column type {ty}")


def ndjson_bodies(table: pa.Table, schema: dict, batch_rows: int) -> Iterator[bytes]:
    cols = [(c["name"], c["type"]) for c in schema["columns"]]
    for start in range(0, table.num_rows, batch_rows):
        part = table.slice(start, batch_rows)
        cells = [_cells(part.column(n), n, ty) for n, ty in cols]
        names = [n for n, _ in cols]
        lines = (json.dumps(dict(zip(names, row)), separators=(",", ":")) for row in zip(*cells))
        yield ("\n".join(lines) + "\n").encode()


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _encoder(name: str, ty: str) -> Callable[[Any], bytes]:
    """One cell's RowBinary bytes; a value that does not fit is a
    FrameError naming the column."""

    def bad(v: Any, why: str) -> FrameError:
        return FrameError(f"column {name}: {v!r} {why} (format='rowbinary'; NDJSON lets the server parse text)")

    if ty == "timestamp_ms" or ty in _INTS:
        fmt, lo, hi = _INTS["int64" if ty == "timestamp_ms" else ty]
        packer = struct.Struct(fmt).pack

        def enc_int(v: Any) -> bytes:
            if not isinstance(v, int):
                raise bad(v, "is not an integer")
            if not lo <= v <= hi:
                raise bad(v, f"does not fit {ty}")
            return packer(v)

        return enc_int
    if ty == "date":

        def enc_date(v: Any) -> bytes:
            if not isinstance(v, int) or not 0 <= v <= 65535:
                raise bad(v, "is not a day number in 1970..2149")
            return struct.pack("<H", v)

        return enc_date
    if ty.startswith("decimal("):
        scale = int(ty[len("decimal("):-1])

        def enc_dec(v: Any) -> bytes:
            # Exact arithmetic: the default 28-digit context would round a
            # long value instead of refusing it.
            try:
                with decimal.localcontext() as ctx:
                    ctx.prec = 200
                    ctx.traps[decimal.Inexact] = True
                    d = decimal.Decimal(v).scaleb(scale)
            except (decimal.InvalidOperation, decimal.Inexact):
                raise bad(v, "is not a decimal, or has too many digits") from None
            if d != d.to_integral_value():
                raise bad(v, f"has more digits than the scale {scale}")
            n = int(d)
            if not -(1 << 63) <= n < (1 << 63):
                raise bad(v, f"does not fit {ty}")
            return struct.pack("<q", n)

        return enc_dec
    if ty == "float64":
        return struct.Struct("<d").pack
    if ty == "bool":
        return lambda v: b"\x01" if v else b"\x00"
    if ty in ("string", "lc_string"):

        def enc_str(v: Any) -> bytes:
            raw = v.encode()
            return _leb128(len(raw)) + raw

        return enc_str
    raise FrameError(f"column {name}: unknown column type {ty}")


def rowbinary_bodies(table: pa.Table, schema: dict, batch_rows: int) -> Iterator[bytes]:
    cols = [(c["name"], c["type"]) for c in schema["columns"]]
    encoders = [_encoder(n, ty) for n, ty in cols]
    for start in range(0, table.num_rows, batch_rows):
        part = table.slice(start, batch_rows)
        cells: Sequence[List[Any]] = [_cells(part.column(n), n, ty) for n, ty in cols]
        for (n, ty), values in zip(cols, cells):
            if ty in ("timestamp_ms", "date") and any(isinstance(v, str) for v in values):
                raise FrameError(
                    f"column {n}: text times cannot be sent as RowBinary; give timestamps or "
                    "epoch ms, or use format='ndjson' (the server parses the text)"
                )
        columns = [[enc(v) for v in values] for enc, values in zip(encoders, cells)]
        yield b"".join(b"".join(row) for row in zip(*columns))


BODIES: Dict[str, Callable[[pa.Table, dict, int], Iterator[bytes]]] = {
    "ndjson": ndjson_bodies,
    "rowbinary": rowbinary_bodies,
}
