"""The SDK and the taskyard command against the real stack, through the gateway."""

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from client import AsyncTaskyard, Taskyard, TaskyardError
from client.cli import app
from tests.processes import BIN
from tests.stack import csv_body

SALES = Path(__file__).parents[2] / "client" / "demo" / "sales.csv"


@pytest.fixture
def sdk(e2e_stack) -> Taskyard:
    with Taskyard(e2e_stack.gateway_url, "alpha-key") as taskyard:
        yield taskyard


@pytest.fixture
def cli(e2e_stack):
    runner = CliRunner()
    env = {"TASKYARD_URL": e2e_stack.gateway_url, "TASKYARD_API_KEY": "alpha-key"}

    def invoke(*args: str, key: str = "alpha-key"):
        return runner.invoke(app, list(args), env={**env, "TASKYARD_API_KEY": key})

    return invoke


def test_sdk_upload_wait_report_download(sdk, tmp_path) -> None:
    dataset = sdk.wait(sdk.upload_dataset(SALES, columns="quantity:integer,amount:number"))
    assert dataset.status == "succeeded"
    assert dataset.data["counts"]["accepted"] == 1200
    assert sdk.find(dataset.id).location == f"/ingest/jobs/{dataset.id}"

    spec = {
        "dataset_id": dataset.id,
        "group_by": ["product"],
        "metrics": [{"op": "count"}],
        "format": "csv",
    }
    report = sdk.create_report(spec)
    updates = list(sdk.events(report))
    assert updates[-1].status == "succeeded"
    saved = sdk.download(sdk.get(report), tmp_path / "report.csv")
    lines = saved.read_text().splitlines()
    assert lines[0] == "product,count(*)"
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 1200


def test_async_sdk_sends_and_waits(e2e_stack, smtp_server) -> None:
    async def go():
        async with AsyncTaskyard(e2e_stack.gateway_url, "alpha-key") as taskyard:
            job = await taskyard.send_email(
                ["ann@example.com"], "notice", {"message": "async hello"}
            )
            return await taskyard.wait(job)

    job = asyncio.run(go())
    assert job.status == "succeeded"
    assert smtp_server.messages(job.data["delivery"]["message_id"])


def test_sdk_errors_carry_the_problem(sdk) -> None:
    with pytest.raises(TaskyardError) as error:
        sdk.send_email(["not an address"], "notice", {"message": "x"})
    assert error.value.status == 422
    assert error.value.request_id


def test_dead_letters_list_and_replay_after_the_fix(e2e_stack, smtp_server) -> None:
    with Taskyard(e2e_stack.gateway_url, "ops-key") as admin:
        smtp_server.handler.refuse_all_with = "550 5.1.1 no such mailbox"
        try:
            failed = admin.wait(admin.send_email(["gone@example.com"], "notice", {"message": "x"}))
        finally:
            smtp_server.handler.refuse_all_with = None
        assert failed.status == "failed"
        assert failed.id in {letter["id"] for letter in admin.dead_letters("email")}
        replayed = admin.wait(admin.replay("email", failed.id))
        assert replayed.status == "succeeded"


def test_cli_upload_with_json_output(cli) -> None:
    result = cli("--json", "ingest", "upload", str(SALES), "--columns", "amount:number", "--wait")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert (view["status"], view["counts"]["accepted"]) == ("succeeded", 1200)


def test_cli_report_wait_and_download(cli, sdk, tmp_path) -> None:
    dataset = sdk.wait(sdk.upload_dataset(SALES, columns="amount:number"))
    target = tmp_path / "r.html"
    result = cli(
        "reports", "create", "--dataset", dataset.id, "--group-by", "city",
        "--metric", "sum:amount", "--metric", "count", "--download", str(target),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout
    assert "<svg" in target.read_text()


def test_cli_jobs_show_watch_cancel(cli, sdk) -> None:
    job = sdk.wait(sdk.upload_dataset(SALES))
    shown = cli("--json", "jobs", "show", job.id)
    assert json.loads(shown.stdout)["status"] == "succeeded"
    assert cli("jobs", "watch", job.id).exit_code == 0
    refused = cli("jobs", "cancel", job.id)
    assert refused.exit_code == 2  # 409: it already finished
    assert "request id" in refused.stderr


def test_cli_a_failed_job_exits_1_with_its_reason(cli, tmp_path) -> None:
    bad = tmp_path / "dup.csv"
    bad.write_text("a,a\n1,2\n")
    result = cli("ingest", "upload", str(bad), "--wait")
    assert result.exit_code == 1
    assert "duplicate column names" in result.stderr
    assert "request id" in result.stderr


def test_cli_email_and_dead_letters(cli) -> None:
    sent = cli(
        "--json",
        "email",
        "send",
        "--to",
        "b@example.com",
        "--template",
        "welcome",
        "--var",
        "name=Bo",
        "--wait",
    )
    assert json.loads(sent.stdout)["status"] == "succeeded"
    refused = cli("email", "send", "--to", "b@example.com", "--template", "welcome")
    assert refused.exit_code == 2
    assert "'name' is undefined" in refused.stderr
    letters = cli("--json", "dead-letters", "list", "--service", "email", key="ops-key")
    assert isinstance(json.loads(letters.stdout)["email"], list)
    assert cli("dead-letters", "list").exit_code == 2  # not an admin key


def test_the_installed_command_runs_as_a_real_process(e2e_stack, sdk, tmp_path) -> None:
    data = tmp_path / "tiny.csv"
    data.write_bytes(csv_body(5))
    env = {**os.environ, "TASKYARD_URL": e2e_stack.gateway_url, "TASKYARD_API_KEY": "alpha-key"}
    done = subprocess.run(
        [str(BIN / "taskyard"), "--json", "ingest", "upload", str(data), "--wait"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["accepted"] == 5
    helped = subprocess.run(
        [str(BIN / "taskyard"), "reports", "create", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "--download" in helped.stdout
