"""`taskyard`: the SDK on the command line, with live progress bars fed by the SSE stream."""

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from client.calls import SERVICES, TaskyardError
from client.sdk import Job, Taskyard

app = typer.Typer(help="Taskyard from the command line: one gateway URL and an API key.")
ingest = typer.Typer(help="Datasets in: CSV, NDJSON or a JSON batch.")
email = typer.Typer(help="Templated mail out.")
reports = typer.Typer(help="Aggregates over datasets, as CSV, JSON or HTML with a chart.")
jobs = typer.Typer(help="Any job, by id: show, watch, cancel.")
dead_letters = typer.Typer(help="Failed jobs (admin keys only).")
for group, name in [(ingest, "ingest"), (email, "email"), (reports, "reports"), (jobs, "jobs")]:
    app.add_typer(group, name=name)
app.add_typer(dead_letters, name="dead-letters")

out = Console()
err = Console(stderr=True)
Wait = Annotated[
    bool, typer.Option("--wait", help="Follow the job with a progress bar until it ends")
]


class Options:
    url: str | None = None
    api_key: str | None = None
    json: bool = False


@app.callback()
def configure(
    url: Annotated[str | None, typer.Option(envvar="TASKYARD_URL", help="The gateway URL")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="TASKYARD_API_KEY", help="An API key", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    Options.url, Options.api_key, Options.json = url, api_key, as_json


@contextmanager
def client() -> Iterator[Taskyard]:
    """The SDK for one command; an error answer prints its detail and request id, exit 2."""
    try:
        with Taskyard(Options.url, Options.api_key) as taskyard:
            yield taskyard
    except TaskyardError as error:
        err.print(f"[red]{error.status} {error.title}:[/] {error.detail}")
        err.print(f"request id: {error.request_id}")
        raise typer.Exit(2) from None


def follow(taskyard: Taskyard, job: Job) -> Job:
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    ]
    with Progress(*columns, TimeElapsedColumn(), console=err, disable=Options.json) as progress:
        bar = progress.add_task(f"{job.location} {job.status}", total=1.0)
        for update in taskyard.events(job):
            progress.update(
                bar, completed=update.progress, description=f"{job.location} {update.status}"
            )
    return taskyard.get(job)


def finish(taskyard: Taskyard, job: Job, wait: bool) -> Job:
    """Print the job (after following it when asked); a failed job exits 1."""
    if wait:
        job = follow(taskyard, job)
    show(job.data | {"location": job.location})
    if job.status == "failed":
        err.print(
            f"[red]failed:[/] {job.data.get('error')} (request id {job.data.get('request_id')})"
        )
        raise typer.Exit(1)
    return job


def show(data: Any) -> None:
    if Options.json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, dict):
        for key, value in data.items():
            if value not in (None, [], {}):
                out.print(f"[bold]{key}[/]: {value}")
    else:
        out.print(data)


@ingest.command("upload")
def ingest_upload(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv, .ndjson or .json file")
    ],
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: the file's stem)")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="Declared columns, e.g. id:integer,amount:number")
    ] = None,
    wait: Wait = False,
) -> None:
    """Upload a dataset."""
    with client() as taskyard:
        finish(taskyard, taskyard.upload_dataset(file, name, columns), wait)


@email.command("send")
def email_send(
    to: Annotated[list[str], typer.Option("--to", help="A recipient (repeat for more)")],
    template: Annotated[str, typer.Option(help="welcome, report_ready or notice")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="A template variable, key=value")
    ] = None,
    cc: Annotated[list[str] | None, typer.Option()] = None,
    bcc: Annotated[list[str] | None, typer.Option()] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    reply_to: Annotated[str | None, typer.Option()] = None,
    wait: Wait = False,
) -> None:
    """Send a templated message."""
    variables = dict(pair.split("=", 1) for pair in var or [] if "=" in pair)
    with client() as taskyard:
        job = taskyard.send_email(
            to, template, variables, cc=cc, bcc=bcc, subject=subject, reply_to=reply_to
        )
        finish(taskyard, job, wait)


@reports.command("create")
def reports_create(
    dataset: Annotated[str, typer.Option(help="The dataset id")],
    group_by: Annotated[list[str], typer.Option("--group-by", help="A field (repeat for more)")],
    metric: Annotated[list[str], typer.Option(help="count, or op:field with sum, avg, min, max")],
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="field:op:value, op one of eq ne lt lte gt gte"),
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="csv, json or html")] = "html",
    notify: Annotated[str | None, typer.Option(help="Mail this address when it is ready")] = None,
    run_at: Annotated[str | None, typer.Option(help="ISO 8601 time to build it")] = None,
    download: Annotated[
        Path | None, typer.Option(help="Save the file here when done (implies --wait)")
    ] = None,
    wait: Wait = False,
) -> None:
    """Build a report over a dataset."""
    spec: dict[str, Any] = {
        "dataset_id": dataset,
        "group_by": group_by,
        "metrics": [
            dict(zip(("op", "field"), item.split(":", 1), strict=False)) for item in metric
        ],
        "filters": [_filter(item) for item in filter_ or []],
        "format": format_,
        "notify": notify,
        "run_at": run_at,
    }
    with client() as taskyard:
        job = finish(taskyard, taskyard.create_report(spec), wait or download is not None)
        if download is not None:
            taskyard.download(job, download)
            err.print(f"saved {download}")


def _filter(item: str) -> dict[str, Any]:
    field, op, value = item.split(":", 2)
    number: Any = value
    with contextlib.suppress(ValueError):
        number = float(value)
    return {"field": field, "op": op, "value": number}


@jobs.command("show")
def jobs_show(job_id: str) -> None:
    """Show a job, from whichever service has it."""
    with client() as taskyard:
        finish(taskyard, taskyard.find(job_id), wait=False)


@jobs.command("watch")
def jobs_watch(job_id: str) -> None:
    """Follow a job with a progress bar until it ends."""
    with client() as taskyard:
        finish(taskyard, taskyard.find(job_id), wait=True)


@jobs.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a queued or running job."""
    with client() as taskyard:
        finish(taskyard, taskyard.cancel(taskyard.find(job_id)), wait=False)


@dead_letters.command("list")
def dead_letters_list(
    service: Annotated[list[str] | None, typer.Option(help="Only these services")] = None,
) -> None:
    """Failed jobs that can be replayed."""
    with client() as taskyard:
        letters = {name: taskyard.dead_letters(name) for name in service or SERVICES}
    if Options.json:
        show(letters)
        return
    for name, items in letters.items():
        for item in items:
            out.print(f"{name}  {item['id']}  {item['task']}  {item['error']}")
    if not any(letters.values()):
        out.print("no dead letters")


@dead_letters.command("replay")
def dead_letters_replay(service: str, job_id: str, wait: Wait = False) -> None:
    """Queue a failed job again."""
    with client() as taskyard:
        finish(taskyard, taskyard.replay(service, job_id), wait)
