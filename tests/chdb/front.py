#!/usr/bin/env python3
"""A test-only HTTP front over chDB (ClickHouse 26.x in-process).

Not a product component: just enough of ClickHouse's HTTP interface for
hotcold's own client to run against a modern engine, because Debian ships
only ClickHouse 18.16 and chDB cannot serve ClickHouse's HTTP port itself.

  python3 tests/chdb/front.py --port 18190 --path DIR [--tz America/New_York]

- `GET /ping` answers `Ok.`
- a statement comes in `?query=` (then the body is its data) or as the body;
- `INSERT ... FORMAT X` with data: the data goes to a file and the statement
  becomes `INSERT ... FROM INFILE 'file' FORMAT X` (chDB's way in);
- `?database=` is applied with `USE` when the database exists;
- errors answer 500 with the engine's message, as ClickHouse does.

chDB has one data path per process, so statements run one at a time.
"""
import argparse
import os
import re
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from chdb import session

LOCK = threading.Lock()
SESSION = None
TZ = None
INSERT_FORMAT = re.compile(r"^\s*INSERT\s+INTO\s+(.+?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)


def run(sql, database, fmt):
    with LOCK:
        if TZ:
            SESSION.query(f"SET session_timezone = '{TZ}'", "TabSeparated")
        if database:
            try:
                SESSION.query(f"USE {database}", "TabSeparated")
            except Exception:
                pass
        return SESSION.query(sql, fmt).bytes()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, code, data):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urlparse(self.path)
        if url.path == "/ping":
            self.answer(200, b"Ok.\n")
            return
        params = parse_qs(url.query)
        body = self.body()
        query = params.get("query", [None])[0]
        database = params.get("database", [None])[0]
        # The client may name the output format here instead of in the SQL.
        fmt = params.get("default_format", ["TabSeparated"])[0]
        if os.environ.get("HOTCOLD_CHDB_TRACE"):
            print(self.path, body[:300], flush=True)
        tmp = None
        try:
            if query is None:
                sql = body.decode("utf-8")
            else:
                sql = query
                m = INSERT_FORMAT.match(query)
                if m and body:
                    fd, tmp = tempfile.mkstemp(suffix=".bin")
                    with os.fdopen(fd, "wb") as f:
                        f.write(body)
                    sql = f"INSERT INTO {m.group(1)} FROM INFILE '{tmp}' FORMAT {m.group(2)}"
                elif body:
                    sql = query + "\n" + body.decode("utf-8")
            self.answer(200, run(sql, database, fmt))
        except Exception as e:  # the engine's message, as ClickHouse sends it
            self.answer(500, str(e).encode("utf-8", "replace"))
        finally:
            if tmp:
                os.unlink(tmp)

    do_GET = handle_any
    do_POST = handle_any


def main():
    global SESSION, TZ
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True, help="chDB's data directory")
    p.add_argument("--tz", help="session_timezone for every statement (the engine's own is UTC)")
    a = p.parse_args()
    SESSION = session.Session(a.path)
    TZ = a.tz
    ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
