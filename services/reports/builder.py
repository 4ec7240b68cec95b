"""Build one report: aggregate, render, store once, announce."""

from typing import Any

from sqlalchemy import Engine

from services.common.tasks import JobContext, RejectedInput
from services.reports import store
from services.reports.aggregate import TooManyGroups, aggregate
from services.reports.notify import announce
from services.reports.render import render
from services.reports.schemas import ReportIn
from services.reports.settings import ReportsSettings
from services.reports.source import find_dataset


def build_report(engine: Engine, context: JobContext, settings: ReportsSettings) -> dict[str, Any]:
    job = context.job
    spec = ReportIn.model_validate(job.payload)
    dataset = find_dataset(engine, spec.dataset_id)
    if dataset is None:
        raise RejectedInput(f"dataset {spec.dataset_id} is gone")
    title = (
        f"{dataset.name}: {', '.join(m.label for m in spec.metrics)} by {', '.join(spec.group_by)}"
    )
    rows = store.stored_rows(engine, job.id)
    if rows is None:  # not built on an earlier run of this job
        try:
            table = aggregate(
                engine,
                spec,
                dataset,
                chunk_rows=settings.reports_chunk_rows,
                max_groups=settings.reports_max_groups,
                progress=context.progress,
            )
        except TooManyGroups as exc:
            raise RejectedInput(str(exc)) from exc
        store.save(engine, job.id, job.tenant, render(job.id, title, spec, table), len(table))
        rows = len(table)
    result: dict[str, Any] = {"rows": rows}
    if spec.notify:
        result["notify_job_id"] = announce(settings, job, spec.notify, title)
    return result
