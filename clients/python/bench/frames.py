"""One large answer into a DataFrame, the way a notebook gets it: the
Python client (Arrow on the wire) against the NDJSON answer of the same
query read by each library's own NDJSON reader. Rows/s from the request
to the finished frame; prints a markdown table.

    python3 clients/python/bench/frames.py --url http://127.0.0.1:8080 \
        --table trades --from MS --to MS --rows N [--token T]

Run by target/release/bench_arrow against the cloud-service it filled.
Needs pyarrow, pandas and polars (scripts/test.sh installs them); the
client is imported from clients/python/src, so it need not be installed.
The NDJSON readers get the easier task: decimals stay strings (the client
gives exact decimal128), and the body is read whole before parsing."""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--table", default="trades")
    p.add_argument("--from", dest="start", type=int, required=True)
    p.add_argument("--to", dest="end", type=int, required=True)
    p.add_argument("--rows", type=int, required=True, help="rows the answer must hold")
    p.add_argument("--token", default=None)
    a = p.parse_args()
    try:
        import pandas as pd
        import polars as pl
        import pyarrow.json as pj

        import hotcold
    except ImportError as e:
        print(f"SKIPPED: frames benchmark needs pyarrow, pandas and polars ({e})")
        return 0
    client = hotcold.Client(a.url, token=a.token)

    def ndjson() -> bytes:
        q = urllib.parse.urlencode({"from": a.start, "to": a.end, "format": "ndjson"})
        req = urllib.request.Request(f"{a.url}/v1/query/{a.table}?{q}")
        if a.token:
            req.add_header("Authorization", f"Bearer {a.token}")
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.read()

    def via_client(output: str):
        return lambda: client.query(a.table, a.start, a.end, output=output)

    runs = [
        ("pyarrow Table", "client (arrow)", via_client("arrow"),
         "pyarrow.json.read_json", lambda: pj.read_json(io.BytesIO(ndjson()))),
        ("polars DataFrame", "client (arrow)", via_client("polars"),
         "polars.read_ndjson", lambda: pl.read_ndjson(io.BytesIO(ndjson()))),
        ("pandas DataFrame", "client (arrow)", via_client("pandas"),
         "pandas.read_json(lines=True)",
         lambda: pd.read_json(io.BytesIO(ndjson()), lines=True, dtype=False)),
    ]
    print("| into | Arrow path | rows/s | NDJSON path | rows/s | Arrow vs NDJSON |")
    print("|---|---|---|---|---|---|")
    for into, arrow_name, arrow_run, nd_name, nd_run in runs:
        rates = []
        for run in (arrow_run, nd_run):
            t = time.perf_counter()
            frame = run()
            secs = time.perf_counter() - t
            n = len(frame) if not hasattr(frame, "num_rows") else frame.num_rows
            if n != a.rows:
                print(f"error: {into} held {n} rows, not {a.rows}", file=sys.stderr)
                return 1
            del frame
            rates.append(n / secs)
        print(f"| {into} | {arrow_name} | {rates[0]:,.0f} | {nd_name} | {rates[1]:,.0f} "
              f"| {rates[0] / rates[1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
