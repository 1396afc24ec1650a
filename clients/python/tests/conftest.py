"""The live pair these tests run against, from the environment that
tests/tests/python_client.rs sets: HOTCOLD_URL, HOTCOLD_READ_TOKEN,
HOTCOLD_INGEST_TOKEN, HOTCOLD_ROWS (the ingested trades, NDJSON: the
truth), HOTCOLD_FROM and HOTCOLD_TO (their range, epoch ms)."""
import decimal
import json
import os

import pytest

import hotcold


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run these tests through tests/tests/python_client.rs")
    return v


@pytest.fixture(scope="session")
def client():
    return hotcold.Client(_env("HOTCOLD_URL"), token=_env("HOTCOLD_READ_TOKEN"),
                          ingest_token=_env("HOTCOLD_INGEST_TOKEN"))


@pytest.fixture(scope="session")
def span():
    return int(_env("HOTCOLD_FROM")), int(_env("HOTCOLD_TO"))


@pytest.fixture(scope="session")
def truth():
    """The ingested trades, with decimals as decimal.Decimal."""
    rows = []
    with open(_env("HOTCOLD_ROWS")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                r["price"] = decimal.Decimal(r["price"])
                r["amount"] = decimal.Decimal(r["amount"])
                rows.append(r)
    rows.sort(key=lambda r: (r["ts"], r["trade_id"]))
    return rows
