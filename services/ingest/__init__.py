"""The ingest service: datasets in (JSON, CSV or NDJSON), validated row by row, stored."""

SERVICE = "ingest"
LOAD_DATASET = "ingest.load_dataset"
