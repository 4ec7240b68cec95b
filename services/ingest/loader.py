"""Load one dataset: stream its upload through the parser into the rows table."""

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Engine

from services.common.tasks import JobCancelled, JobContext, RejectedInput
from services.ingest import store
from services.ingest.parsing import Column, FileError, Row, parse_csv, parse_ndjson
from services.ingest.settings import IngestSettings

PARSERS = {"csv": parse_csv, "ndjson": parse_ndjson}


class ByteCounter:
    """Counts the bytes the parser has pulled, which is how far through the file it is."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk


def load_dataset(engine: Engine, context: JobContext, settings: IngestSettings) -> dict[str, int]:
    dataset = store.get_dataset(engine, context.job.id)
    if dataset is None:
        raise RejectedInput("the dataset's upload is missing")
    counts = dataset.counts()
    if counts is not None:  # finished before; this is a redelivery
        return counts
    columns = [Column(name=c["name"], type=c["type"]) for c in dataset.columns]  # type: ignore[arg-type]
    reader = ByteCounter(store.iter_chunks(engine, dataset.id))
    batch: list[tuple[int, Any]] = []
    problems: list[tuple[int, str]] = []
    accepted = rejected = 0
    try:
        for item in PARSERS[dataset.format](reader, columns):
            if isinstance(item, Row):
                accepted += 1
                batch.append((item.line, item.values))
            else:
                rejected += 1
                if len(problems) < settings.ingest_error_sample:
                    problems.append((item.line, item.reason))
            if len(batch) >= settings.ingest_batch_size:
                store.insert_records(engine, dataset.id, batch)
                batch = []
                context.progress(reader.read / max(dataset.size_bytes, 1))
    except FileError as exc:
        store.discard_upload(engine, dataset.id)
        raise RejectedInput(str(exc)) from exc
    except JobCancelled:
        store.discard_upload(engine, dataset.id)
        raise
    store.insert_records(engine, dataset.id, batch)
    counts = {"total": accepted + rejected, "accepted": accepted, "rejected": rejected}
    store.finish_dataset(engine, dataset.id, counts, problems)
    return counts
