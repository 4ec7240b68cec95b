"""Streaming CSV and NDJSON parsing, and the validation of a record against declared columns.

Pure: the parsers only consume an iterable of byte chunks and yield one result per record, so a
bad record becomes a RowError and the rest of the file is still read. Memory is bounded by the
largest record, never by the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ColumnType = Literal["string", "integer", "number", "boolean"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "string"


class FileError(ValueError):
    """The file as a whole cannot be read (the job fails with this message)."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based physical line where the record starts in the file
    values: dict[str, Any]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str  # short, human readable, never includes the whole row


def parse_columns(spec: str) -> list[Column]:
    """Parse "name,age:integer,score:number,ok:boolean"; a blank spec declares no columns."""
    if not spec.strip():
        return []
    columns: list[Column] = []
    for item in spec.split(","):
        name, _, type_name = (part.strip() for part in item.partition(":"))
        type_name = type_name or "string"
        if not name:
            raise ValueError(f"empty column name in {spec!r}")
        if not _is_column_type(type_name):
            expected = ", ".join(get_args(ColumnType))
            raise ValueError(f"unknown type {type_name!r} for column {name!r} (use {expected})")
        if any(column.name == name for column in columns):
            raise ValueError(f"duplicate column name {name!r}")
        columns.append(Column(name, type_name))
    return columns


def parse_csv(chunks: Iterable[bytes], columns: Sequence[Column] = ()) -> Iterator[Row | RowError]:
    """Yield one Row or RowError per record after the header; raise FileError if unreadable."""
    # The raw lines of the record being read: only looked at to recover from a csv.Error.
    record_lines: list[str] = []
    with _text_stream(chunks, newline="") as text:

        def lines() -> Iterator[str]:
            for line in text:
                record_lines.append(line)
                yield line

        reader = csv.reader(lines())
        header = _read_header(reader, columns)
        while True:
            record_lines.clear()
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                # The reader drops the rest of the line and starts afresh on the next one, which
                # is only a record boundary if no quoted field is left open: otherwise the rest
                # of that field would be read as records of its own.
                if _ends_inside_quotes("".join(record_lines)):
                    raise FileError(f"line {line}: {error}") from None
                yield RowError(line, str(error))
                continue
            if not fields:
                continue  # a blank line
            yield _csv_row(line, header, fields, columns)


def parse_ndjson(
    chunks: Iterable[bytes], columns: Sequence[Column] = ()
) -> Iterator[Row | RowError]:
    """Yield one Row or RowError per non-blank line, each line holding one JSON object."""
    # Only "\n" ends a record: a lone "\r" is JSON whitespace, not a line break.
    with _text_stream(chunks, newline="\n") as text:
        for number, line in enumerate(text, start=1):
            if not line.strip(" \t\r\n"):
                continue
            result: Row | RowError
            try:
                record = validate_record(_json_object(line), columns, from_text=False)
                result = Row(number, record)
            except ValueError as error:
                result = RowError(number, str(error))
            yield result


def validate_record(
    values: Mapping[str, Any], columns: Sequence[Column], *, from_text: bool
) -> dict[str, Any]:
    """Return values with the declared columns converted; raise ValueError(reason) if one fails.

    Declared columns are required; from_text says the values are CSV text rather than JSON.
    """
    record = dict(values)
    for column in columns:
        value = record.get(column.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"missing value for {column.name!r}")
        try:
            record[column.name] = _convert(value, column.type, from_text=from_text)
        except ValueError:
            raise ValueError(
                f"invalid {column.type} for {column.name!r}: got {_describe(value)}"
            ) from None
    return record


class _ChunkStream(io.RawIOBase):
    """A readable raw stream over byte chunks, so io can decode them however they are split."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _text_stream(chunks: Iterable[bytes], *, newline: str) -> io.TextIOWrapper:
    # surrogateescape turns bad bytes into lone surrogates instead of failing the whole stream,
    # so they can be reported against the one record that holds them.
    return io.TextIOWrapper(
        io.BufferedReader(_ChunkStream(chunks)),
        encoding="utf-8-sig",
        errors="surrogateescape",
        newline=newline,
    )


# Valid UTF-8 never decodes to a surrogate, so one in the text marks bytes that were not UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _read_header(reader: Iterator[list[str]], columns: Sequence[Column]) -> list[str]:
    try:
        fields = next((fields for fields in reader if fields), None)
    except csv.Error as error:
        raise FileError(f"cannot read the header: {error}") from None
    if fields is None:
        raise FileError("the file is empty")
    if any(_SURROGATE.search(field) for field in fields):
        raise FileError("the header is not valid UTF-8")
    header = [field.strip() for field in fields]
    empty = [str(position) for position, name in enumerate(header, start=1) if not name]
    if empty:
        raise FileError(f"empty column name in the header (column {', '.join(empty)})")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FileError(f"duplicate column names in the header: {_names(duplicates)}")
    missing = [column.name for column in columns if column.name not in header]
    if missing:
        raise FileError(f"declared columns missing from the header: {_names(missing)}")
    return header


def _csv_row(
    line: int, header: list[str], fields: list[str], columns: Sequence[Column]
) -> Row | RowError:
    if any(_SURROGATE.search(field) for field in fields):
        return RowError(line, "invalid UTF-8")
    if len(fields) != len(header):
        return RowError(line, f"expected {len(header)} fields, got {len(fields)}")
    values = dict(zip(header, fields, strict=True))
    try:
        return Row(line, validate_record(values, columns, from_text=True))
    except ValueError as error:
        return RowError(line, str(error))


def _ends_inside_quotes(text: str) -> bool:
    """Replay the csv module's default (excel, non-strict) quoting rules over text."""
    state = "start"  # of a field; or "plain", "quoted", or "quote" (a quote in a quoted field)
    for char in text:
        if state == "quoted":
            if char == '"':
                state = "quote"
        elif char == '"' and state in ("start", "quote"):
            state = "quoted"  # opens a field, or is the second of a doubled quote
        elif char in ",\r\n":
            state = "start"
        else:
            state = "plain"  # non-strict: text after a closing quote joins the field
    return state == "quoted"


def _json_object(line: str) -> dict[str, Any]:
    if _SURROGATE.search(line):
        raise ValueError("invalid UTF-8")
    try:
        value = json.loads(line.rstrip("\r\n"), parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} (column {error.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {_describe(value)}")
    if "\\u" in line and not _encodable(value):
        raise ValueError("invalid Unicode: an escaped lone surrogate")
    return value


def _encodable(value: object) -> bool:
    # An escape like "\udc80" decodes to a lone surrogate, which no database can store as text.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    # json accepts NaN and Infinity, which are not JSON and which nothing downstream can store.
    raise ValueError(f"not valid JSON: {name}")


def _convert(value: object, type_: ColumnType, *, from_text: bool) -> Any:
    if not from_text:
        return _FROM_JSON[type_](value)
    if not isinstance(value, str):
        raise ValueError("not text")
    return _FROM_TEXT[type_](value)


# ASCII only: int() would also take other scripts' digits and "1_000".
_INTEGER = re.compile(r"[+-]?[0-9]+")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _text_integer(text: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text)  # may still raise: Python refuses to convert over 4300 digits


def _text_number(text: str) -> float:
    return _finite(float(text))


def _text_boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def _json_integer(value: object) -> int:
    # bool is a subclass of int, but true is not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(value)
    return value


def _json_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    try:
        return _finite(float(value))
    except OverflowError:  # an int too large for a float
        raise ValueError(value) from None


def _json_of(type_: type[Any]) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        if not isinstance(value, type_):
            raise ValueError(value)
        return value

    return check


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(number)
    return number


_FROM_TEXT: dict[ColumnType, Callable[[str], Any]] = {
    "string": str,
    "integer": _text_integer,
    "number": _text_number,
    "boolean": _text_boolean,
}
_FROM_JSON: dict[ColumnType, Callable[[object], Any]] = {
    "string": _json_of(str),
    "integer": _json_integer,
    "number": _json_number,
    "boolean": _json_of(bool),
}


def _is_column_type(name: str) -> TypeGuard[ColumnType]:
    return name in get_args(ColumnType)


_JSON_TYPES: dict[type[Any], str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _describe(value: object) -> str:
    """Name a bad value briefly: a value can be as large as the field size limit."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)
