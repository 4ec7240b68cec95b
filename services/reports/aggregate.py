"""The aggregation, pushed down to the data store as GROUP BY over ranges of lines.

Each range is one SQL query; sums, counts, minima and maxima of the ranges merge exactly, and
between ranges the job reports progress and notices a cancellation.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, and_, func, select

from services.reports.schemas import Filter, Metric, ReportSpec
from services.reports.source import Dataset, records

_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


class TooManyGroups(ValueError):
    pass


# Each metric asks the database for what it needs and no more: extracting a JSON field is the
# query's main cost, and every aggregate of a field extracts it again.
_NEEDS = {
    "count": ("cnt",),
    "sum": ("sum",),
    "avg": ("sum", "cnt"),
    "min": ("min",),
    "max": ("max",),
}
_SQL = {"sum": func.sum, "cnt": func.count, "min": func.min, "max": func.max}
# How the figures of two ranges combine: exactly, whichever range came first.
_MERGE: dict[str, Callable[[Any, Any], Any]] = {
    "sum": operator.add,
    "cnt": operator.add,
    "min": min,
    "max": max,
}


@dataclass
class _Partial:
    count: int = 0
    figures: dict[str, Any] = field(default_factory=dict)  # by label: "sum:amount"


def _value(dataset: Dataset, name: str) -> ColumnElement[Any]:
    column = records.c.data[name]
    value = column.as_float() if dataset.numeric(name) else column.as_string()
    return cast(ColumnElement[Any], value)


def _condition(dataset: Dataset, rule: Filter) -> ColumnElement[bool]:
    value: Any = float(rule.value) if dataset.numeric(rule.field) else str(rule.value)
    return _COMPARE[rule.op](_value(dataset, rule.field), value)  # type: ignore[no-any-return]


def aggregate(
    engine: Engine,
    spec: ReportSpec,
    dataset: Dataset,
    *,
    chunk_rows: int,
    max_groups: int,
    progress: Callable[[float], None],
) -> list[dict[str, Any]]:
    keys = [_value(dataset, name) for name in spec.group_by]
    needed = sorted({(agg, m.field) for m in spec.metrics if m.field for agg in _NEEDS[m.op]})
    columns = [func.count().label("n")]
    columns += [_SQL[agg](_value(dataset, name)).label(f"{agg}:{name}") for agg, name in needed]
    where = and_(
        records.c.dataset_id == dataset.id, *(_condition(dataset, f) for f in spec.filters)
    )
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(records.c.line), func.max(records.c.line)).where(where)
        ).one()
    groups: dict[tuple[Any, ...], _Partial] = {}
    if first is None:
        return []
    for low in range(first, last + 1, chunk_rows):
        query = (
            select(*keys, *columns)
            .where(where, records.c.line >= low, records.c.line < low + chunk_rows)
            .group_by(*keys)
        )
        with engine.connect() as conn:
            for row in conn.execute(query):
                _merge(groups, row._mapping, len(keys))
        if len(groups) > max_groups:
            raise TooManyGroups(f"more than {max_groups} groups; group by fewer fields")
        progress((low + chunk_rows - first) / (last + 1 - first))
    return _finish(spec, groups)


def _merge(groups: dict[tuple[Any, ...], _Partial], row: Any, width: int) -> None:
    values = list(row.values())
    partial = groups.setdefault(tuple(values[:width]), _Partial())
    partial.count += row["n"]
    for label in list(row.keys())[width + 1 :]:
        value, known = row[label], partial.figures.get(label)
        if value is not None:  # NULL: no value of the field in this range
            merge = _MERGE[label.partition(":")[0]]
            partial.figures[label] = value if known is None else merge(known, value)


def _finish(spec: ReportSpec, groups: dict[tuple[Any, ...], _Partial]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        partial = groups[key]
        row: dict[str, Any] = dict(zip(spec.group_by, key, strict=True))
        for metric in spec.metrics:
            row[metric.label] = _metric(metric, partial)
        rows.append(row)
    return rows


def _metric(metric: Metric, partial: _Partial) -> Any:
    if metric.field is None:  # validated: only count goes without a field
        return partial.count
    figures, name = partial.figures, metric.field
    if metric.op == "count":
        return figures.get(f"cnt:{name}", 0)
    if metric.op == "avg":
        count = figures.get(f"cnt:{name}")
        return figures[f"sum:{name}"] / count if count else None
    return figures.get(f"{metric.op}:{name}")  # sum, min, max: None when the field had none
