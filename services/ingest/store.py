"""Ingest's tables: datasets, their uploaded bytes (the claim check), rows, rejections.

Rows are keyed by (dataset, line), and inserts skip keys already there, so a redelivered
or replayed load never stores a row twice.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from services.common.db import insert_if_absent
from services.common.jobs.model import utcnow

metadata = MetaData()

datasets = Table(
    "ingest_datasets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("format", String(10), nullable=False),
    Column("columns", JSON, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("total_rows", Integer),
    Column("accepted_rows", Integer),
    Column("rejected_rows", Integer),
)
upload_chunks = Table(
    "ingest_upload_chunks",
    metadata,
    Column("dataset_id", String(36), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
records = Table(
    "ingest_records",
    metadata,
    Column("dataset_id", String(36), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("data", JSON, nullable=False),
)
rejections = Table(
    "ingest_rejections",
    metadata,
    Column("dataset_id", String(36), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("reason", String(500), nullable=False),
)


@dataclass(frozen=True)
class Dataset:
    id: str
    tenant: str
    name: str
    format: str
    columns: list[dict[str, str]]
    size_bytes: int
    created_at: datetime
    finished_at: datetime | None
    total_rows: int | None
    accepted_rows: int | None
    rejected_rows: int | None

    def counts(self) -> dict[str, int] | None:
        if self.total_rows is None:
            return None
        return {
            "total": self.total_rows,
            "accepted": self.accepted_rows or 0,
            "rejected": self.rejected_rows or 0,
        }


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def create_dataset(engine: Engine, **fields: Any) -> None:
    with engine.begin() as conn:
        conn.execute(insert(datasets).values(created_at=utcnow(), size_bytes=0, **fields))


def append_chunk(engine: Engine, dataset_id: str, seq: int, data: bytes) -> None:
    with engine.begin() as conn:
        conn.execute(insert(upload_chunks).values(dataset_id=dataset_id, seq=seq, data=data))


def set_size(engine: Engine, dataset_id: str, size_bytes: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(datasets).where(datasets.c.id == dataset_id).values(size_bytes=size_bytes)
        )


def discard_upload(engine: Engine, dataset_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(upload_chunks).where(upload_chunks.c.dataset_id == dataset_id))


def delete_dataset(engine: Engine, dataset_id: str) -> None:
    with engine.begin() as conn:
        for table in (upload_chunks, records, rejections):
            conn.execute(delete(table).where(table.c.dataset_id == dataset_id))
        conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


def get_dataset(engine: Engine, dataset_id: str) -> Dataset | None:
    with engine.connect() as conn:
        row = conn.execute(select(datasets).where(datasets.c.id == dataset_id)).first()
    return Dataset(**row._mapping) if row else None


def iter_chunks(engine: Engine, dataset_id: str) -> Iterator[bytes]:
    """One chunk in memory at a time, however large the upload."""
    seq = 0
    while True:
        with engine.connect() as conn:
            data = conn.execute(
                select(upload_chunks.c.data).where(
                    upload_chunks.c.dataset_id == dataset_id, upload_chunks.c.seq == seq
                )
            ).scalar()
        if data is None:
            return
        yield bytes(data)
        seq += 1


def insert_records(engine: Engine, dataset_id: str, rows: Sequence[tuple[int, Any]]) -> None:
    if rows:
        values = [{"dataset_id": dataset_id, "line": line, "data": data} for line, data in rows]
        with engine.begin() as conn:
            conn.execute(insert_if_absent(engine, records), values)


def finish_dataset(
    engine: Engine,
    dataset_id: str,
    counts: dict[str, int],
    problems: Sequence[tuple[int, str]],
) -> None:
    """One transaction: the done marker, the counts, the rejection sample, and the upload's
    bytes freed, so a crash leaves either all of it or none."""
    with engine.begin() as conn:
        if problems:
            values = [
                {"dataset_id": dataset_id, "line": line, "reason": reason[:500]}
                for line, reason in problems
            ]
            conn.execute(insert_if_absent(engine, rejections), values)
        conn.execute(
            update(datasets)
            .where(datasets.c.id == dataset_id)
            .values(
                finished_at=utcnow(),
                total_rows=counts["total"],
                accepted_rows=counts["accepted"],
                rejected_rows=counts["rejected"],
            )
        )
        conn.execute(delete(upload_chunks).where(upload_chunks.c.dataset_id == dataset_id))


def page_records(engine: Engine, dataset_id: str, after: int, limit: int) -> list[tuple[int, Any]]:
    query = (
        select(records.c.line, records.c.data)
        .where(records.c.dataset_id == dataset_id, records.c.line > after)
        .order_by(records.c.line)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(row.line, row.data) for row in conn.execute(query)]


def rejection_sample(engine: Engine, dataset_id: str, limit: int) -> list[tuple[int, str]]:
    query = (
        select(rejections.c.line, rejections.c.reason)
        .where(rejections.c.dataset_id == dataset_id)
        .order_by(rejections.c.line)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(row.line, row.reason) for row in conn.execute(query)]
