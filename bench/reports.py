"""Reports: a grouped report (count and sum of amount by city) from POST until `succeeded`,
against the same `GROUP BY` run directly with SQLAlchemy, on the same database, one per call.

The dataset is written straight into ingest's tables with ingest's own table definitions, in
one transaction, as a finished load leaves it (dataset row with its declared columns and
counts, JSON rows keyed by line). Setup is not what is measured: this keeps the figure apart
from ingest's, and is quicker than a load through the worker (half the time on PostgreSQL).

Fair because the direct query reads the same rows of the same table and extracts the same JSON
fields; it is one query for the whole dataset, as a user would write it. Both sides run once
to warm up (caches, connections, a fresh API's first request), then they alternate. Ours adds
the API, the queue, the worker, the ranges of lines queried one by one (with min and max too),
rendering (CSV) and storing the file.
"""

import time
import uuid
from dataclasses import asdict
from statistics import median
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, text

from bench.ingest import COLUMNS, sample_rows
from bench.workload import timed_job
from services.common.db import create_data_engine
from services.ingest import store
from services.ingest.parsing import parse_columns

BATCH = 10_000


def load_dataset(engine: Engine, tenant: str, rows: int) -> str:
    """A finished dataset of ``rows`` sample rows owned by ``tenant``; its id."""
    store.create_schema(engine)
    dataset_id = str(uuid.uuid4())
    columns = [asdict(column) for column in parse_columns(COLUMNS)]  # as the ingest API does
    store.create_dataset(
        engine, id=dataset_id, tenant=tenant, name=f"bench-{rows}", format="csv", columns=columns
    )
    data = sample_rows(rows)
    with engine.begin() as conn:
        for low in range(0, rows, BATCH):
            batch = data[low : low + BATCH]
            values = [
                {"dataset_id": dataset_id, "line": n, "data": row}
                for n, row in enumerate(batch, low + 2)
            ]
            conn.execute(insert(store.records), values)
    store.finish_dataset(engine, dataset_id, {"total": rows, "accepted": rows, "rejected": 0}, [])
    if engine.dialect.name == "postgresql":  # settled, as a table is a while after a load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {store.records.name}"))
    return dataset_id


def through_taskyard(api: str, key: str, dataset_id: str) -> float:
    """Seconds from the POST to the worker's `finished_at`; ``api`` is a reports API's URL
    or the gateway's URL with /reports."""
    spec = {
        "dataset_id": dataset_id,
        "group_by": ["city"],
        "metrics": [{"op": "count"}, {"op": "sum", "field": "amount"}],
        "format": "csv",
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api, timeout=60) as client:
        started = time.time()
        answer = client.post("/", json=spec, headers=headers)
        answer.raise_for_status()
        seconds, _ = timed_job(client, started, f"/{answer.json()['id']}", headers)
    return seconds


def direct_group_by(engine: Engine, dataset_id: str) -> tuple[float, list[Any]]:
    """Seconds for the GROUP BY, and its rows."""
    data = store.records.c.data
    city = data["city"].as_string()
    query = (
        select(city, func.count(), func.sum(data["amount"].as_float()))
        .where(store.records.c.dataset_id == dataset_id)
        .group_by(city)
    )
    started = time.monotonic()
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    return time.monotonic() - started, rows


def reports_ratio(
    api: str, key: str, database_url: str, rows: int, tenant: str = "bench", runs: int = 3
) -> dict[str, float]:
    """The median of ``runs`` of each, after one of each to warm up. ``database_url`` must be
    the one the reports API and worker behind ``api`` use, and ``key`` one of ``tenant``'s."""
    engine = create_data_engine(database_url)
    try:
        dataset_id = load_dataset(engine, tenant, rows)
        ours, direct = [], []
        for _ in range(runs + 1):
            ours.append(through_taskyard(api, key, dataset_id))
            seconds, groups = direct_group_by(engine, dataset_id)
            direct.append(seconds)
            if sum(count for _, count, _ in groups) != rows:
                raise RuntimeError(f"the direct GROUP BY saw other rows: {groups}")
        store.delete_dataset(engine, dataset_id)
    finally:
        engine.dispose()
    ours_seconds, direct_seconds = median(ours[1:]), median(direct[1:])
    return {
        "ours_seconds": ours_seconds,
        "direct_seconds": direct_seconds,
        "ratio": direct_seconds / ours_seconds,
    }
