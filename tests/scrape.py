"""Read a /metrics page the way Prometheus would, for assertions on single samples."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import wait_until


def samples(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(url, timeout=5).raise_for_status().text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(url: str, metric: str, /, **labels: str) -> float:
    """The sum of every sample called ``metric`` whose labels include ``labels``."""
    return sum(
        value
        for name, sample_labels, value in samples(url)
        if name == metric and labels.items() <= sample_labels.items()
    )


def wait_for_totals(url: str, expected: dict[str, float], **labels: str) -> None:
    """Until each metric in ``expected`` sums to its value: a worker's signals fire just
    after the ledger says a job finished, so a scrape right then may be a moment early."""

    def actual() -> dict[str, float]:
        return {metric: total(url, metric, **labels) for metric in expected}

    try:
        wait_until(lambda: actual() == expected, timeout=30, what=f"{expected} at {url}")
    except TimeoutError:
        assert actual() == expected
