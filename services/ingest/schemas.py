"""What the ingest API takes and shows."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.common.jobs.model import JobStatus
from services.ingest.parsing import ColumnType

Name = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class DatasetIn(BaseModel):
    """A JSON batch: every record an object; declared columns are checked row by row."""

    name: str = Name
    columns: dict[str, ColumnType] = Field(default_factory=dict)
    records: list[dict[str, Any]] = Field(min_length=1)


class ColumnOut(BaseModel):
    name: str
    type: ColumnType


class Counts(BaseModel):
    total: int
    accepted: int
    rejected: int


class RowProblem(BaseModel):
    line: int
    reason: str


class DatasetView(BaseModel):
    id: str
    name: str
    format: str
    size_bytes: int
    columns: list[ColumnOut]
    status: JobStatus
    progress: float
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    request_id: str | None = None
    counts: Counts | None
    errors: list[RowProblem] = Field(description="A sample of rejected rows, by line")
    links: dict[str, str]


class RecordOut(BaseModel):
    line: int
    values: dict[str, Any]


class RecordPage(BaseModel):
    items: list[RecordOut]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next page")
