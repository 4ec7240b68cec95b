"""Reports' own knobs on top of the shared settings."""

from services.common.settings import Settings


class ReportsSettings(Settings):
    # Where clients reach the gateway: the download link in the notification mail.
    public_url: str = "http://127.0.0.1:8080"
    # Lines per GROUP BY query: progress and cancellation are checked between them.
    reports_chunk_rows: int = 50_000
    reports_max_groups: int = 10_000
    reports_release_interval: float = 5.0
