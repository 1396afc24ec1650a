#!/usr/bin/env python3
"""Reads a `nas-gateway export` tree with DuckDB (one glob, Hive partitions)
and pyarrow, and prints what it found as JSON for the Rust test to compare
with the rows it ingested.

Usage: check_export.py DIR TABLE

Output: {"days": {"YYYY-MM-DD": {"rows", "price", "amount", "min_ts",
"max_ts", "ids"}}, "types": {column: pyarrow type}, "footers": {day:
{key: value}}, "rows": [[ts, exchange, symbol, trade_id, price, amount,
buyer_maker], ...]}. Decimal sums are exact text (DuckDB sums DECIMAL(38, s)
exactly), times epoch ms.
"""
import json
import pathlib
import sys

import duckdb
import pyarrow.parquet as pq

root, table = pathlib.Path(sys.argv[1]), sys.argv[2]
glob = str(root / table / "*" / "*.parquet")
rows = duckdb.sql(
    f"""SELECT date::VARCHAR, count(*), sum(price)::VARCHAR, sum(amount)::VARCHAR,
               epoch_ms(min(ts)), epoch_ms(max(ts)), count(DISTINCT trade_id)
        FROM read_parquet('{glob}', hive_partitioning = true)
        GROUP BY date ORDER BY date"""
).fetchall()
days = {
    d: {"rows": n, "price": p, "amount": a, "min_ts": lo, "max_ts": hi, "ids": ids}
    for d, n, p, a, lo, hi, ids in rows
}
# Every cell, for a cell-by-cell comparison with what was ingested.
cells = duckdb.sql(
    f"""SELECT epoch_ms(ts), exchange, symbol, trade_id, price::VARCHAR, amount::VARCHAR, buyer_maker
        FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY ts, trade_id"""
).fetchall()
types, footers = {}, {}
for f in sorted((root / table).glob("date=*/part.parquet")):
    meta = pq.read_metadata(f)
    kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items() if k.startswith(b"hotcold.")}
    footers[f.parent.name[len("date="):]] = kv
    for field in pq.read_schema(f):
        types[field.name] = str(field.type)
print(json.dumps({"days": days, "types": types, "footers": footers, "rows": cells}))
