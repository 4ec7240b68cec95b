"""Ingest: CSV rows per second end to end (POST until the dataset is `succeeded`) against a
bulk insert of the same rows straight into the same database, one database per call.

Fair because both sides write the same rows (the same typed values: id an integer, amount a
number) into a table of the same shape (ingest's records table: dataset id, line, JSON data),
through an engine made by the same `create_data_engine`, on the same database URL. The direct
side is what a user would write without Taskyard: SQLAlchemy Core `insert()` executemany of
the row dicts, in one transaction. Its rows are already in memory, so it parses nothing; ours
pays for the HTTP upload, the stored chunks, the queue, parsing, validation and
insert-if-absent batches.
"""

import csv
import io
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import MetaData, insert

from bench.workload import timed_job
from services.common.db import create_data_engine
from services.ingest import store

COLUMNS = "id:integer,name,city,amount:number"
CITIES = ("Lisbon", "Oslo", "Lyon", "Porto", "Turin", "Graz", "Ghent", "Malmo", "Split", "Cork")


def sample_rows(count: int) -> list[dict[str, Any]]:
    """Rows as the ingest worker stores them: declared columns already converted."""
    return [
        {
            "id": i,
            "name": f"customer-{i}",
            "city": CITIES[i * 7 % len(CITIES)],
            "amount": (i * 37 % 100_000) / 100,
        }
        for i in range(count)
    ]


def csv_body(rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def through_taskyard(api: str, key: str, rows: list[dict[str, Any]]) -> tuple[float, str]:
    """Seconds from the POST to the worker's `finished_at`, and the dataset's id; ``api`` is an
    ingest API's URL (or the gateway's with /ingest, if its upload limit lets the body in)."""
    body = csv_body(rows)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api, timeout=600) as client:
        started = time.time()
        answer = client.post(
            "/datasets",
            params={"name": f"bench-{len(rows)}", "columns": COLUMNS},
            content=body,
            headers={**headers, "Content-Type": "text/csv"},
        )
        answer.raise_for_status()
        seconds, view = timed_job(client, started, f"/datasets/{answer.json()['id']}", headers)
    if view["counts"]["accepted"] != len(rows):
        raise RuntimeError(f"the bench dataset did not load every row: {view}")
    return seconds, view["id"]


def direct_insert(database_url: str, rows: list[dict[str, Any]]) -> float:
    """Seconds for one executemany of the rows into a fresh copy of the records table."""
    engine = create_data_engine(database_url)
    table = store.records.to_metadata(MetaData(), name=f"bench_direct_{uuid.uuid4().hex[:8]}")
    dataset_id = str(uuid.uuid4())
    values = [{"dataset_id": dataset_id, "line": n, "data": row} for n, row in enumerate(rows, 2)]
    table.create(engine)
    try:
        started = time.monotonic()
        with engine.begin() as conn:
            conn.execute(insert(table), values)
        return time.monotonic() - started
    finally:
        table.drop(engine)
        engine.dispose()


def ingest_ratio(api: str, key: str, database_url: str, rows: int) -> dict[str, float]:
    """``database_url`` must be the one the ingest API and worker behind ``api`` use."""
    data = sample_rows(rows)
    _, warm_up = through_taskyard(api, key, data[:100])  # first request, first connection
    seconds, dataset_id = through_taskyard(api, key, data)
    direct = rows / direct_insert(database_url, data)
    engine = create_data_engine(database_url)
    try:  # so that what comes next on this database reads no rows of ours
        for loaded in (warm_up, dataset_id):
            store.delete_dataset(engine, loaded)
    finally:
        engine.dispose()
    ours = rows / seconds
    return {
        "ours_rows_per_second": ours,
        "direct_rows_per_second": direct,
        "ratio": ours / direct,
    }
