"""A report's file: CSV, JSON, or a standalone HTML page with its table and a chart."""

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.common.jobs.model import utcnow
from services.reports.chart import chart_for
from services.reports.schemas import ReportSpec

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class ReportFile:
    body: bytes
    content_type: str
    filename: str


def render(report_id: str, title: str, spec: ReportSpec, rows: list[dict[str, Any]]) -> ReportFile:
    columns = [*spec.group_by, *(metric.label for metric in spec.metrics)]
    if spec.format == "csv":
        body = _csv(columns, rows)
    elif spec.format == "json":
        body = json.dumps({"title": title, "columns": columns, "rows": rows}, indent=1).encode()
    else:
        chart = chart_for(rows, spec.group_by, spec.metrics[0].label)
        body = (
            _html()
            .render(
                title=title,
                columns=columns,
                rows=rows,
                chart=chart,
                generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
            )
            .encode()
        )
    return ReportFile(body, CONTENT_TYPES[spec.format], f"report-{report_id}.{spec.format}")


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@cache
def _html() -> Any:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
    return environment.get_template("report.html")
