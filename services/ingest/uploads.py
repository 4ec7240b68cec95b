"""Receiving a dataset body: streamed into the data store in chunks (the claim check).

Large uploads never travel through Redis; any worker replica reads them from the store.
"""

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from anyio import to_thread
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Engine

from services.common.api.problems import Problem
from services.ingest import store
from services.ingest.parsing import Column, parse_columns
from services.ingest.schemas import DatasetIn
from services.ingest.settings import IngestSettings

CSV = "text/csv"
NDJSON = "application/x-ndjson"
JSON = "application/json"
FORMATS = {CSV: "csv", NDJSON: "ndjson", "application/ndjson": "ndjson"}


@dataclass(frozen=True)
class Incoming:
    name: str
    format: str
    columns: list[Column]
    pieces: AsyncIterator[bytes]


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


async def incoming(
    request: Request, settings: IngestSettings, *, name: str | None, columns: str
) -> Incoming:
    """What the body is, by its content type; nothing is stored yet."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == JSON:
        batch = await read_json_batch(request, settings.ingest_max_json_bytes)
        declared = [Column(column, type_) for column, type_ in batch.columns.items()]
        return Incoming(batch.name, "ndjson", declared, ndjson_pieces(batch))
    if kind not in FORMATS:
        raise Problem(415, f"Send {JSON}, {CSV} or {NDJSON}, not {kind!r}.")
    if not name:
        raise Problem(422, "Name the dataset with ?name= when sending a CSV or NDJSON body.")
    try:
        declared = parse_columns(columns)
    except ValueError as exc:
        raise Problem(422, f"Bad ?columns=: {exc}.") from exc
    body = limited_body(request, settings.ingest_max_upload_bytes)
    return Incoming(name, FORMATS[kind], declared, body)


async def read_json_batch(request: Request, limit: int) -> DatasetIn:
    body = bytearray()
    async for piece in limited_body(request, limit):
        body += piece
    try:
        # Up to ingest_max_json_bytes of JSON: validated off the event loop.
        return await to_thread.run_sync(DatasetIn.model_validate_json, bytes(body))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from exc


async def store_stream(
    engine: Engine,
    dataset_id: str,
    pieces: AsyncIterator[bytes],
    *,
    chunk_bytes: int,
    salt: bytes,
) -> Stored:
    """Stream into chunks; the hash (with the salt: format, name, columns) is the body's
    identity for Idempotency-Key checks."""
    digest = hashlib.sha256(salt)
    buffer = bytearray()
    size = seq = 0
    async for piece in pieces:
        size += len(piece)
        digest.update(piece)
        buffer += piece
        if len(buffer) >= chunk_bytes:
            await to_thread.run_sync(store.append_chunk, engine, dataset_id, seq, bytes(buffer))
            seq, buffer = seq + 1, bytearray()
    if buffer:
        await to_thread.run_sync(store.append_chunk, engine, dataset_id, seq, bytes(buffer))
    if size == 0:
        raise Problem(422, "The body is empty: send a header row and at least the data you have.")
    await to_thread.run_sync(store.set_size, engine, dataset_id, size)
    return Stored(size=size, sha256=digest.hexdigest())


async def ndjson_pieces(batch: DatasetIn) -> AsyncIterator[bytes]:
    """A JSON batch is stored as NDJSON so one streaming loader serves every format."""
    for record in batch.records:
        yield json.dumps(record, separators=(",", ":")).encode() + b"\n"


async def limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise _too_large(limit)
        yield piece


def _too_large(limit: int) -> Problem:
    return Problem(413, f"The body is larger than the {limit} bytes allowed here.")
