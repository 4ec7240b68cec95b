"""wrk, the load generator: one run against one URL and its throughput."""

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# wrk calls done() once at the end; it prints what we read back, as one JSON line.
_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{{"requests": %d, "seconds": %f, "errors": %d}}\\n',
    summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
) -> Load:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed; `make bench` installs it with apt-get")
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()]
    script = _SCRIPT.format(
        method=json.dumps(method), body=json.dumps(body), headers="\n".join(lines)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "load.lua"
        path.write_text(script)
        args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
        out = subprocess.run(
            [*args, "-s", str(path), url], capture_output=True, text=True, check=False
        )
    out.check_returncode()
    report = next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{"))
    figures = json.loads(report)
    # wrk counts every answer, a 401 or a 429 too: a run with any is no measurement.
    if errors := figures.pop("errors"):
        raise RuntimeError(f"{errors} of wrk's requests to {url} failed or were not 2xx/3xx")
    return Load(**figures)
