#!/usr/bin/env python3
"""Reads hotcold's Arrow and Parquet answers with pyarrow, polars and DuckDB
and compares each with the NDJSON answer to the same query.

Usage: check_columnar.py DIR   (DIR holds manifest.json and, per case NAME,
NAME.ndjson, NAME.arrow, NAME.parquet: written by
tests/tests/columnar_answers.rs against a running cloud-service)
       check_columnar.py --probe   (exit 0 if the readers are importable)

Every value is compared in one canonical form: times as epoch ms (ints),
decimals as decimal.Decimal (never a float), dates as ISO text, the rest as
Python values. Rows are compared as sorted multisets and counted.
Prints "N passed, M failed" last; exits 1 on any failure.
"""
import datetime as dt
import decimal
import json
import pathlib
import sys

if len(sys.argv) > 1 and sys.argv[1] == "--probe":
    try:
        import duckdb  # noqa: F401
        import polars  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as e:
        print(f"missing: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
INTS = {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
        "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64()}
POLARS_INTS = {"int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64,
               "uint8": pl.UInt8, "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64}
DUCK_INTS = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
             "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT"}

passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


def scale(ty):
    return int(ty[len("decimal("):-1])


def arrow_type(ty):
    if ty == "timestamp_ms":
        return pa.timestamp("ms", tz="UTC")
    if ty.startswith("decimal("):
        return pa.decimal128(38, scale(ty))
    return {"lc_string": pa.dictionary(pa.int32(), pa.utf8()), "string": pa.utf8(),
            "bool": pa.bool_(), "date": pa.date32(), "float64": pa.float64(), **INTS}[ty]


def polars_ok(ty, got):
    if ty == "timestamp_ms":
        return got == pl.Datetime("ms", "UTC")
    if ty.startswith("decimal("):
        return isinstance(got, pl.Decimal) and got.scale == scale(ty)
    if ty == "lc_string":
        return got == pl.Categorical or isinstance(got, pl.Categorical)
    want = {"string": pl.String, "bool": pl.Boolean, "date": pl.Date, "float64": pl.Float64,
            **POLARS_INTS}[ty]
    return got == want


def duck_ok(ty, got):
    got = str(got).upper()
    if ty == "timestamp_ms":
        return got in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
    if ty.startswith("decimal("):
        return got == f"DECIMAL(38,{scale(ty)})"
    if ty in ("lc_string", "string"):
        return got == "VARCHAR" or got.startswith("ENUM")
    return got == {"bool": "BOOLEAN", "date": "DATE", "float64": "DOUBLE", **DUCK_INTS}[ty]


def canon(ty, v):
    """One cell in the canonical form, from any reader or from NDJSON."""
    if ty == "timestamp_ms":
        if isinstance(v, dt.datetime):
            if v.tzinfo is None:
                raise ValueError(f"a naive datetime {v}: the UTC zone was lost")
            d = v - EPOCH
            return d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000
        return int(v)
    if ty.startswith("decimal("):
        q = decimal.Decimal(1).scaleb(-scale(ty))
        if isinstance(v, float):
            raise ValueError(f"decimal read as a float {v!r}")
        return decimal.Decimal(str(v) if not isinstance(v, decimal.Decimal) else v).quantize(q)
    if ty == "date":
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    if ty == "float64":
        return float(v)
    return v


def rows_of(cols, types, records):
    return sorted(
        (tuple(canon(types[c], r[i]) for i, c in enumerate(cols)) for r in records),
        key=repr,
    )


def compare(case, reader, cols, types, got_rows, want_rows):
    check(len(got_rows) == len(want_rows),
          f"{case} {reader}: {len(got_rows)} rows, NDJSON has {len(want_rows)}")
    bad = [(g, w) for g, w in zip(got_rows, want_rows) if g != w]
    check(not bad, f"{case} {reader}: {len(bad)} rows differ, first {bad[:1]}")


def main(d):
    manifest = json.loads((d / "manifest.json").read_text())
    for case in manifest:
        name, types = case["name"], case["types"]
        lines = [json.loads(l) for l in (d / f"{name}.ndjson").read_text().splitlines() if l.strip()]
        lines = [l for l in lines if "_missing" not in l]
        check(len(lines) > 0, f"{name}: the NDJSON answer has rows")
        cols = list(lines[0].keys()) if lines else []
        unknown = [c for c in cols if c not in types]
        if unknown:
            check(False, f"{name}: no expected type for {unknown}; the Arrow schema says "
                  f"{ipc.open_stream((d / f'{name}.arrow').read_bytes()).schema}")
            continue
        want = rows_of(cols, types, ([l[c] for c in cols] for l in lines))
        arrow_path, parquet_path = d / f"{name}.arrow", d / f"{name}.parquet"

        # pyarrow, both formats: types, metadata, values.
        with ipc.open_stream(arrow_path.read_bytes()) as r:
            t = r.read_all()
        pt = pq.read_table(parquet_path)
        pmeta = pq.read_metadata(parquet_path).metadata or {}
        for fmt, table in (("arrow", t), ("parquet", pt)):
            check(table.column_names == cols, f"{name} pyarrow {fmt}: columns {table.column_names} != {cols}")
            for f in table.schema:
                if f.name in types:
                    check(f.type == arrow_type(types[f.name]),
                          f"{name} pyarrow {fmt}: {f.name} is {f.type}, want {arrow_type(types[f.name])}")
            compare(name, f"pyarrow {fmt}", cols, types, rows_of(cols, types, (
                tuple(r[c] for c in cols) for r in table.to_pylist())), want)
        smeta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
        pm = {k.decode(): v.decode() for k, v in pmeta.items()}
        check("hotcold.watermark" in smeta and "hotcold.watermark" in pm,
              f"{name}: the watermark is in the IPC schema ({smeta}) and the Parquet footer ({pm})")
        cut = "true" if case["truncated"] else "false"
        check(pm.get("hotcold.truncated") == cut, f"{name} parquet: hotcold.truncated={pm.get('hotcold.truncated')}, want {cut}")
        h = case["headers"]["arrow"]
        if h["streamed"] == "true":
            check(smeta.get("hotcold.streamed") == "true" and "hotcold.truncated" not in smeta,
                  f"{name} arrow streamed: the schema says so ({smeta})")
        else:
            check(smeta.get("hotcold.truncated") == cut,
                  f"{name} arrow whole: hotcold.truncated={smeta.get('hotcold.truncated')}, want {cut}")
            check((h["truncated"] == "true") == case["truncated"], f"{name}: x-hotcold-truncated {h}")
        missing = case["headers"]["arrow"]["missing"]
        if case["partial"]:
            nd_missing = [l for l in (json.loads(x) for x in (d / f"{name}.ndjson").read_text().splitlines() if x.strip()) if "_missing" in l]
            check(bool(missing) and nd_missing, f"{name}: a partial answer says so (header {missing}, ndjson {nd_missing})")
            check(smeta.get("hotcold.missing") == missing and pm.get("hotcold.missing") == missing,
                  f"{name}: hotcold.missing in the IPC schema ({smeta.get('hotcold.missing')}) and Parquet footer ({pm.get('hotcold.missing')}) equal the header {missing}")
            check(bool(smeta.get("hotcold.missing_reason")), f"{name}: the reason is named ({smeta})")
        else:
            check(missing is None and "hotcold.missing" not in smeta and "hotcold.missing" not in pm,
                  f"{name}: a whole answer names nothing missing")
        if name == "ev_all":
            check(h["streamed"] == "true", f"{name}: a large answer is streamed ({h})")

        # polars, its own readers.
        for fmt, df in (("arrow", pl.read_ipc_stream(arrow_path)), ("parquet", pl.read_parquet(parquet_path))):
            check(df.columns == cols, f"{name} polars {fmt}: columns {df.columns}")
            for c, ty in zip(df.columns, df.dtypes):
                if c in types:
                    check(polars_ok(types[c], ty), f"{name} polars {fmt}: {c} is {ty}, want {types[c]}")
            compare(name, f"polars {fmt}", cols, types, rows_of(cols, types, df.rows()), want)

        # DuckDB: its own Parquet reader, and its Arrow scan of the stream.
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        sources = (("parquet", f"SELECT * FROM read_parquet('{parquet_path}')"),
                   ("arrow", "SELECT * FROM stream"))
        for fmt, sql in sources:
            stream = ipc.open_stream(arrow_path.read_bytes())  # noqa: F841 (scanned by name)
            rel = con.sql(sql)
            check(rel.columns == cols, f"{name} duckdb {fmt}: columns {rel.columns}")
            for c, ty in zip(rel.columns, rel.types):
                if c in types:
                    check(duck_ok(types[c], ty), f"{name} duckdb {fmt}: {c} is {ty}, want {types[c]}")
            compare(name, f"duckdb {fmt}", cols, types, rows_of(cols, types, rel.fetchall()), want)
        print(f"{name}: {len(want)} rows equal in pyarrow, polars and duckdb (arrow and parquet)")
    print(f"columnar readers: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
