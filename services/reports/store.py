"""Reports' own table: one stored file per report."""

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)

from services.common.db import insert_if_absent
from services.common.jobs.model import utcnow
from services.reports.render import ReportFile

metadata = MetaData()
results = Table(
    "reports_results",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def save(engine: Engine, report_id: str, tenant: str, file: ReportFile, rows: int) -> None:
    """Keyed by the report: a second run of the same job stores nothing more."""
    statement = insert_if_absent(engine, results)
    with engine.begin() as conn:
        conn.execute(
            statement,
            {
                "report_id": report_id,
                "tenant": tenant,
                "filename": file.filename,
                "content_type": file.content_type,
                "rows": rows,
                "body": file.body,
                "created_at": utcnow(),
            },
        )


def stored_rows(engine: Engine, report_id: str) -> int | None:
    with engine.connect() as conn:
        rows: int | None = conn.execute(
            select(results.c.rows).where(results.c.report_id == report_id)
        ).scalar()
    return rows


def load(engine: Engine, report_id: str) -> tuple[str, ReportFile] | None:
    """The tenant and the file."""
    with engine.connect() as conn:
        row = conn.execute(select(results).where(results.c.report_id == report_id)).first()
    if row is None:
        return None
    return row.tenant, ReportFile(bytes(row.body), row.content_type, row.filename)
