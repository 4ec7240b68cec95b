"""What the reports API takes and shows."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.common.api.jobs import JobState
from services.common.headers import check_address

FieldName = Annotated[str, Field(min_length=1, max_length=100)]


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["count", "sum", "avg", "min", "max"]
    field: FieldName | None = Field(None, description="Needed by all but count")

    @model_validator(mode="after")
    def _field_when_needed(self) -> "Metric":
        if self.op != "count" and self.field is None:
            raise ValueError(f"{self.op} needs a field")
        return self

    @property
    def label(self) -> str:
        return f"{self.op}({self.field or '*'})"


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: FieldName
    op: Literal["eq", "ne", "lt", "lte", "gt", "gte"]
    value: str | int | float


class ReportSpec(BaseModel):
    """What to aggregate; kept in the job's ledger record."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(max_length=36)
    group_by: list[FieldName] = Field(min_length=1, max_length=5)
    metrics: list[Metric] = Field(min_length=1, max_length=10)
    filters: list[Filter] = Field(default_factory=list, max_length=10)
    format: Literal["csv", "json", "html"] = "html"
    notify: Annotated[str, AfterValidator(check_address)] | None = Field(None, max_length=254)


class ReportIn(ReportSpec):
    run_at: datetime | None = Field(None, description="When to build it (UTC if no offset)")


class ReportView(JobState):
    dataset_id: str
    format: str
    run_at: datetime | None
    rows: int | None
    notify_job_id: str | None = Field(description="The email job that announces the report")
    links: dict[str, str]

    @classmethod
    def from_parts(cls, job: Any, links: dict[str, str]) -> "ReportView":
        result = job.result or {}
        return cls.model_validate(
            {
                **job.model_dump(),
                "dataset_id": job.payload["dataset_id"],
                "format": job.payload["format"],
                "run_at": job.payload.get("run_at"),
                "rows": result.get("rows"),
                "notify_job_id": result.get("notify_job_id"),
                "links": links,
            }
        )


class ScheduleIn(ReportSpec):
    cron: str = Field(
        max_length=100,
        description="minute hour day-of-month month day-of-week, in UTC (e.g. '0 6 * * 1')",
    )


class ScheduleView(BaseModel):
    id: str
    cron: str
    spec: ReportSpec
    last_run_at: datetime | None
    jobs: list[str] = Field(description="The reports it made, newest first (the last 100)")
    links: dict[str, str]
