import csv
import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.parsing import (
    Column,
    FileError,
    Row,
    RowError,
    parse_columns,
    parse_csv,
    parse_ndjson,
    validate_record,
)

BOM = b"\xef\xbb\xbf"
BIG = 200_000  # over the csv module's default field size limit of 131072 characters

# One byte per chunk splits every multi-byte character, the BOM and every CRLF.
chunk_sizes = pytest.mark.parametrize("size", [1, 2, 5, 1 << 20])


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def read_csv(data: bytes, size: int = 1 << 20, columns: Sequence[Column] = ()) -> list[Any]:
    return list(parse_csv(chunked(data, size), columns))


def read_ndjson(data: bytes, size: int = 1 << 20, columns: Sequence[Column] = ()) -> list[Any]:
    return list(parse_ndjson(chunked(data, size), columns))


# parse_columns


def test_parse_columns_defaults_to_string_and_ignores_spaces() -> None:
    assert parse_columns("name, age:integer ,score : number,ok:boolean") == [
        Column("name"),
        Column("age", "integer"),
        Column("score", "number"),
        Column("ok", "boolean"),
    ]


def test_a_blank_spec_declares_no_columns() -> None:
    assert parse_columns("  ") == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("age:int", "unknown type 'int' for column 'age'"),
        ("name,,age", "empty column name"),
        ("name,", "empty column name"),
        (":integer", "empty column name"),
        ("name,age,name:integer", "duplicate column name 'name'"),
    ],
)
def test_parse_columns_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_columns(spec)


# parse_csv: the file as a whole


@chunk_sizes
def test_csv_rows_are_numbered_by_physical_line(size: int) -> None:
    data = b'name,note\na,"one\ntwo\nthree"\nb,plain\n'
    assert read_csv(data, size) == [
        Row(2, {"name": "a", "note": "one\ntwo\nthree"}),
        Row(5, {"name": "b", "note": "plain"}),
    ]


@chunk_sizes
def test_csv_bom_crlf_and_multibyte_characters_split_across_chunks(size: int) -> None:
    data = BOM + 'naïve,ok\r\n"日本\r\n語",€\r\nz,😀\r\n'.encode()
    assert read_csv(data, size) == [
        Row(2, {"naïve": "日本\r\n語", "ok": "€"}),
        Row(4, {"naïve": "z", "ok": "😀"}),
    ]


@chunk_sizes
def test_csv_lf_cr_and_crlf_endings_and_blank_lines(size: int) -> None:
    data = b"\n\r\na,b\n1,2\r\n\r\n\n3,4\r5,6"
    assert read_csv(data, size) == [
        Row(4, {"a": "1", "b": "2"}),
        Row(7, {"a": "3", "b": "4"}),
        Row(8, {"a": "5", "b": "6"}),
    ]


def test_csv_header_names_are_stripped_and_undeclared_columns_stay_strings() -> None:
    data = b" id , name \n7,Ada\n"
    assert read_csv(data, columns=[Column("id", "integer")]) == [Row(2, {"id": 7, "name": "Ada"})]


@pytest.mark.parametrize("data", [b"", BOM, b"\n\r\n\n", BOM + b"\r\n"])
def test_csv_without_a_header_is_empty(data: bytes) -> None:
    with pytest.raises(FileError, match="the file is empty"):
        read_csv(data)


def test_csv_header_only_has_no_rows() -> None:
    assert read_csv(b"a,b\r\n") == []
    assert read_csv(b"a,b") == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"a,b,a,b,c", "duplicate column names in the header: 'a', 'b'"),
        (b"a, b,b ", "duplicate column names in the header: 'b'"),
        (b"a,,b, ", r"empty column name in the header \(column 2, 4\)"),
        (b"a,caf\xe9", "the header is not valid UTF-8"),
        (b"a,b" + b"x" * BIG, "cannot read the header: field larger than field limit"),
    ],
)
def test_csv_bad_header(header: bytes, message: str) -> None:
    with pytest.raises(FileError, match=message):
        read_csv(header + b"\n1,2\n")


def test_csv_declared_columns_must_be_in_the_header() -> None:
    columns = parse_columns("a,b:integer,c")
    with pytest.raises(FileError, match="declared columns missing from the header: 'b', 'c'"):
        read_csv(b"a,x\n1,2\n", columns=columns)


def test_csv_is_streamed() -> None:
    endless = itertools.chain([b"n\n"], itertools.repeat(b"1\n2\n"))
    rows = itertools.islice(parse_csv(endless, [Column("n", "integer")]), 3)
    assert list(rows) == [Row(2, {"n": 1}), Row(3, {"n": 2}), Row(4, {"n": 1})]


# parse_csv: one bad record among good ones


@chunk_sizes
def test_csv_wrong_field_count_fails_only_that_row(size: int) -> None:
    data = b'a,b\n1,2\n3\n4,5,6\n"7\n",8\n'
    assert read_csv(data, size) == [
        Row(2, {"a": "1", "b": "2"}),
        RowError(3, "expected 2 fields, got 1"),
        RowError(4, "expected 2 fields, got 3"),
        Row(5, {"a": "7\n", "b": "8"}),
    ]


@chunk_sizes
def test_csv_invalid_utf8_fails_only_that_row(size: int) -> None:
    # \xc3 starts a two-byte character that never ends; \xed\xa0\x80 encodes a surrogate.
    data = b"a,b\n1,caf\xc3\xa9\n2,caf\xe9\n3,\xc3\n4,\xed\xa0\x80\n5,ok"
    assert read_csv(data, size) == [
        Row(2, {"a": "1", "b": "café"}),
        RowError(3, "invalid UTF-8"),
        RowError(4, "invalid UTF-8"),
        RowError(5, "invalid UTF-8"),
        Row(6, {"a": "5", "b": "ok"}),
    ]


def test_csv_invalid_utf8_at_the_very_end() -> None:
    assert read_csv(b"a\nok\n\xe2\x82") == [Row(2, {"a": "ok"}), RowError(3, "invalid UTF-8")]


def test_csv_nul_characters_are_data() -> None:
    assert read_csv(b"a\nx\x00y\n") == [Row(2, {"a": "x\x00y"})]


@pytest.mark.parametrize(
    "big_field",
    [
        b"x" * BIG,
        b'"' + b"x" * BIG + b'"',
        b'"two\nlines' + b"x" * BIG + b'"',  # still closes on the line where the reader failed
    ],
)
def test_csv_field_over_the_size_limit_fails_only_that_row(big_field: bytes) -> None:
    data = b"a,b\n1,2\n3," + big_field + b"\n4,5\n"
    assert read_csv(data) == [
        Row(2, {"a": "1", "b": "2"}),
        RowError(3, "field larger than field limit (131072)"),
        Row(4 + big_field.count(b"\n"), {"a": "4", "b": "5"}),
    ]


def test_csv_field_over_the_size_limit_inside_open_quotes_fails_the_file() -> None:
    # Resuming on the next line would read the rest of the quoted field as rows.
    data = b'a,b\n1,2\n3,"' + b"x" * BIG + b"\n4,5\n6,7\n"
    rows = parse_csv([data])
    assert next(rows) == Row(2, {"a": "1", "b": "2"})
    with pytest.raises(FileError, match="line 3: field larger than field limit"):
        next(rows)


def test_csv_declared_columns_are_converted_and_bad_values_fail_the_row() -> None:
    columns = parse_columns("name,age:integer,score:number,ok:boolean")
    data = (
        b"name,age,score,ok,extra\n"
        b"Ada,36,9.5,yes,x\n"
        b"Bob,-2, 1e3 ,FALSE,\n"
        b"Cy,3.0,1,true,\n"
        b"Di,4,nan,true,\n"
        b"Ed,5,1,maybe,\n"
        b",6,1,true,\n"
        b"Fi, ,1,true,\n"
    )
    assert read_csv(data, columns=columns) == [
        Row(2, {"name": "Ada", "age": 36, "score": 9.5, "ok": True, "extra": "x"}),
        Row(3, {"name": "Bob", "age": -2, "score": 1000.0, "ok": False, "extra": ""}),
        RowError(4, "invalid integer for 'age': got '3.0'"),
        RowError(5, "invalid number for 'score': got 'nan'"),
        RowError(6, "invalid boolean for 'ok': got 'maybe'"),
        RowError(7, "missing value for 'name'"),
        RowError(8, "missing value for 'age'"),
    ]


def test_csv_reason_never_holds_a_long_value() -> None:
    [error] = read_csv(b"n\n" + b"9" * 1000 + b".5\n", columns=[Column("n", "integer")])
    assert isinstance(error, RowError)
    assert error.reason == "invalid integer for 'n': got '" + "9" * 40 + "'..."


# parse_ndjson


@chunk_sizes
def test_ndjson_good_and_bad_lines(size: int) -> None:
    data = (
        BOM + b'{"a": 1, "b": [true, null], "c": "\xc3\xa9\xf0\x9f\x98\x80"}\r\n'
        b"\n"
        b"   \r\n"
        b"[1, 2]\n"
        b'"text"\n'
        b'{"a": \n'
        b'{"a": NaN}\n'
        b'{"a": "caf\xe9"}\n'
        b'{"a": 2.5}'
    )
    assert read_ndjson(data, size) == [
        Row(1, {"a": 1, "b": [True, None], "c": "é😀"}),
        RowError(4, "expected a JSON object, got an array"),
        RowError(5, "expected a JSON object, got 'text'"),
        RowError(6, "not valid JSON: Expecting value (column 7)"),
        RowError(7, "not valid JSON: NaN"),
        RowError(8, "invalid UTF-8"),
        Row(9, {"a": 2.5}),
    ]


def test_ndjson_deep_nesting_fails_only_that_line() -> None:
    data = b"[" * 100_000 + b'\n{"ok": true}\n'
    assert read_ndjson(data) == [
        RowError(1, "not valid JSON: nested too deeply"),
        Row(2, {"ok": True}),
    ]


def test_ndjson_declared_columns() -> None:
    columns = parse_columns("id:integer,score:number,name")
    data = (
        b'{"id": 1, "score": 2, "name": "a", "tags": ["x"]}\n'
        b'{"id": "1", "score": 2, "name": "b"}\n'
        b'{"id": 3, "score": 2, "name": 4}\n'
        b'{"id": 4, "name": "d"}\n'
    )
    assert read_ndjson(data, columns=columns) == [
        Row(1, {"id": 1, "score": 2.0, "name": "a", "tags": ["x"]}),
        RowError(2, "invalid integer for 'id': got '1'"),
        RowError(3, "invalid string for 'name': got a number"),
        RowError(4, "missing value for 'score'"),
    ]


def test_ndjson_empty_input_has_no_rows() -> None:
    assert read_ndjson(b"") == []


# validate_record


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("integer", "42", 42),
        ("integer", "+7", 7),
        ("integer", " -0012 ", -12),
        ("number", "1.5", 1.5),
        ("number", "-3", -3.0),
        ("number", "1e-3", 0.001),
        ("boolean", "TRUE", True),
        ("boolean", "Yes", True),
        ("boolean", "1", True),
        ("boolean", "no", False),
        ("boolean", " false ", False),
        ("boolean", "0", False),
        ("string", " keep  spaces ", " keep  spaces "),
    ],
)
def test_validate_text_accepts(type_: Any, text: str, expected: object) -> None:
    result = validate_record({"v": text}, [Column("v", type_)], from_text=True)
    assert result == {"v": expected}
    assert type(result["v"]) is type(expected)


@pytest.mark.parametrize(
    ("type_", "text"),
    [
        ("integer", "1.0"),
        ("integer", "1e3"),
        ("integer", "1_000"),
        ("integer", "٣"),  # an Arabic-Indic digit, which int() would accept
        ("integer", "0x10"),
        ("integer", "1" * 5000),  # over Python's limit for converting text to int
        ("number", "abc"),
        ("number", "nan"),
        ("number", "-inf"),
        ("number", "1e999"),
        ("boolean", "y"),
        ("boolean", "2"),
    ],
)
def test_validate_text_rejects(type_: Any, text: str) -> None:
    with pytest.raises(ValueError, match=f"^invalid {type_} for 'v': got '"):
        validate_record({"v": text}, [Column("v", type_)], from_text=True)


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("integer", 3, 3),
        ("integer", -(10**30), -(10**30)),
        ("number", 3, 3.0),
        ("number", 2.5, 2.5),
        ("boolean", False, False),
        ("string", "x", "x"),
    ],
)
def test_validate_json_accepts(type_: Any, value: object, expected: object) -> None:
    result = validate_record({"v": value}, [Column("v", type_)], from_text=False)
    assert result == {"v": expected}
    assert type(result["v"]) is type(expected)


@pytest.mark.parametrize(
    ("type_", "value", "got"),
    [
        ("integer", True, "a boolean"),
        ("integer", 3.0, "a number"),
        ("integer", "3", "'3'"),
        ("number", False, "a boolean"),
        ("number", float("inf"), "a number"),
        ("number", 10**400, "a number"),
        ("number", "1.5", "'1.5'"),
        ("boolean", 1, "a number"),
        ("boolean", "true", "'true'"),
        ("string", 5, "a number"),
        ("string", ["x"], "an array"),
        ("string", {"x": 1}, "an object"),
    ],
)
def test_validate_json_rejects(type_: Any, value: object, got: str) -> None:
    with pytest.raises(ValueError, match=f"^invalid {type_} for 'v': got {got}$"):
        validate_record({"v": value}, [Column("v", type_)], from_text=False)


@pytest.mark.parametrize("record", [{}, {"v": None}, {"v": ""}, {"v": "  "}])
@pytest.mark.parametrize("from_text", [True, False])
def test_validate_declared_columns_are_required(record: dict[str, Any], from_text: bool) -> None:
    with pytest.raises(ValueError, match=r"^missing value for 'v'$"):
        validate_record(record, [Column("v", "integer")], from_text=from_text)


def test_validate_keeps_undeclared_keys_and_leaves_the_input_alone() -> None:
    record = {"n": "1", "other": None, "x": [1]}
    assert validate_record(record, [Column("n", "integer")], from_text=True) == {
        "n": 1,
        "other": None,
        "x": [1],
    }
    assert record == {"n": "1", "other": None, "x": [1]}


# Properties

modest = settings(max_examples=100, deadline=None)


def random_chunks(data: st.DataObject, raw: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts"))
    return [raw[start:end] for start, end in itertools.pairwise([0, *cuts, len(raw)])]


def physical_lines(text: str) -> int:
    return len(io.StringIO(text, newline="").readlines())


# Header names as parse_csv reads them back: stripped, and not starting with the one character
# that utf-8-sig removes from the start of a file.
header_names = (
    st.text(min_size=1).map(str.strip).filter(lambda name: name[:1] not in ("", "\ufeff"))
)


@modest
@given(data=st.data(), bom=st.booleans(), crlf=st.booleans())
def test_csv_round_trips_csv_writer_output(data: st.DataObject, bom: bool, crlf: bool) -> None:
    width = data.draw(st.integers(1, 4), label="width")
    header = data.draw(st.lists(header_names, min_size=width, max_size=width, unique=True))
    table = data.draw(st.lists(st.lists(st.text(), min_size=width, max_size=width), max_size=6))
    # csv.writer quotes a lone "\r" only when it is part of the lineterminator, so a "\n"
    # terminator needs every field quoted to be read back the way it was written.
    dialect: dict[str, Any] = (
        {"lineterminator": "\r\n"} if crlf else {"lineterminator": "\n", "quoting": csv.QUOTE_ALL}
    )
    out = io.StringIO(newline="")
    writer = csv.writer(out, **dialect)
    writer.writerow(header)
    expected = []
    for values in table:
        expected.append(
            Row(physical_lines(out.getvalue()) + 1, dict(zip(header, values, strict=True)))
        )
        writer.writerow(values)
    raw = (BOM if bom else b"") + out.getvalue().encode()

    assert list(parse_csv(random_chunks(data, raw))) == expected


# A record as csv.writer gets it, and what parse_csv makes of it under TYPED: its values, or
# None for a rejected row.
TYPED = [Column("n", "integer")]
good_records = st.tuples(st.integers(), st.text()).map(
    lambda pair: ([str(pair[0]), pair[1]], {"n": pair[0], "note": pair[1]})
)
bad_records = st.one_of(
    st.lists(st.text(), min_size=3, max_size=4) | st.lists(st.text(), min_size=1, max_size=1),
    st.text()
    .filter(lambda text: not re.fullmatch("[+-]?[0-9]+", text.strip()))
    .map(lambda text: [text, "not an integer"]),
    st.text().map(lambda text: ["1", text + "\udcff"]),  # a byte that is not UTF-8
).map(lambda fields: (fields, None))


@modest
@given(data=st.data(), records=st.lists(good_records | bad_records, max_size=8))
def test_csv_gives_one_result_a_record_and_a_bad_row_never_stops_the_rest(
    data: st.DataObject, records: list[tuple[list[str], dict[str, Any] | None]]
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["n", "note"])
    expected = []
    for fields, values in records:
        expected.append((physical_lines(out.getvalue()) + 1, values))
        writer.writerow(fields)
    raw = out.getvalue().encode("utf-8", "surrogateescape")

    results = list(parse_csv(random_chunks(data, raw), TYPED))
    assert [(r.line, r.values if isinstance(r, Row) else None) for r in results] == expected


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=10,
)


@modest
@given(
    data=st.data(),
    records=st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=6),
    ascii_only=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_ndjson_round_trips_json_dumps(
    data: st.DataObject, records: list[dict[str, Any]], ascii_only: bool, newline: str
) -> None:
    text = "".join(json.dumps(record, ensure_ascii=ascii_only) + newline for record in records)
    rows = list(parse_ndjson(random_chunks(data, text.encode())))
    assert rows == [Row(line, record) for line, record in enumerate(records, start=1)]


@modest
@given(st.integers())
def test_integer_text_accepts_any_int(number: int) -> None:
    column = [Column("n", "integer")]
    assert validate_record({"n": str(number)}, column, from_text=True) == {"n": number}


@modest
@given(st.floats())
def test_integer_text_rejects_any_float(number: float) -> None:
    with pytest.raises(ValueError, match="invalid integer"):
        validate_record({"n": str(number)}, [Column("n", "integer")], from_text=True)


def test_ndjson_escaped_lone_surrogate_is_a_row_error() -> None:
    lines = b'{"a": "\\udc80"}\n{"a": "\\ud83d\\ude00"}\n'
    results = list(parse_ndjson([lines]))
    assert results == [
        RowError(1, "invalid Unicode: an escaped lone surrogate"),
        Row(2, {"a": "\U0001f600"}),
    ]
