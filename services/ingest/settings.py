"""Ingest's own knobs on top of the shared settings."""

from services.common.settings import Settings


class IngestSettings(Settings):
    ingest_max_upload_bytes: int = 100 * 1024 * 1024
    ingest_max_json_bytes: int = 10 * 1024 * 1024
    ingest_chunk_bytes: int = 1024 * 1024
    ingest_batch_size: int = 1000
    ingest_error_sample: int = 100
