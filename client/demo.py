"""`make demo`: ingest the bundled sales, build an HTML report with a notify address, wait with a
progress bar, download the report, and say where the notification mail is."""

from pathlib import Path

from rich.console import Console

from client.cli import follow
from client.sdk import Taskyard

SALES = Path(__file__).parent / "demo" / "sales.csv"
console = Console()


def main(out: Path = Path("var/demo-report.html"), notify: str = "demo@example.com") -> None:
    with Taskyard() as taskyard:
        console.print(f"Uploading {SALES.name} through {taskyard.url} ...")
        dataset = follow(
            taskyard, taskyard.upload_dataset(SALES, columns="quantity:integer,amount:number")
        )
        console.print(f"dataset {dataset.id}: {dataset.data['counts']}")
        spec = {
            "dataset_id": dataset.id,
            "group_by": ["city", "product"],
            "metrics": [
                {"op": "sum", "field": "amount"},
                {"op": "avg", "field": "quantity"},
                {"op": "count"},
            ],
            "format": "html",
            "notify": notify,
        }
        report = follow(taskyard, taskyard.create_report(spec))
        out.parent.mkdir(parents=True, exist_ok=True)
        taskyard.download(report, out)
    console.print(f"report {report.id}: {report.data['rows']} groups, saved to [bold]{out}[/]")
    console.print(
        f"notification: email job {report.data['notify_job_id']} to {notify}; with make run's sink "
        "it lands in [bold]var/mail/new/[/]"
    )


if __name__ == "__main__":
    main()
