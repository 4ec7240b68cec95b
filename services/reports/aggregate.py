"""The aggregation, pushed down to the data store as GROUP BY over ranges of lines.

Each range is one SQL query; sums, counts, minima and maxima of the ranges merge exactly, and
between ranges the job reports progress and notices a cancellation.
"""

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


@dataclass
class _Partial:
    count: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    mins: dict[str, Any] = field(default_factory=dict)
    maxs: dict[str, Any] = field(default_factory=dict)


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
    measured = sorted({m.field for m in spec.metrics if m.field and m.op != "count"})
    counted = sorted({m.field for m in spec.metrics if m.field} - set(measured))
    columns = [func.count().label("n")]
    for name in counted:
        columns.append(func.count(_value(dataset, name)).label(f"cnt:{name}"))
    for name in measured:
        value = _value(dataset, name)
        columns += [
            func.sum(value).label(f"sum:{name}"),
            func.count(value).label(f"cnt:{name}"),
            func.min(value).label(f"min:{name}"),
            func.max(value).label(f"max:{name}"),
        ]
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
                _merge(groups, row._mapping, len(keys), counted, measured)
        if len(groups) > max_groups:
            raise TooManyGroups(f"more than {max_groups} groups; group by fewer fields")
        progress((low + chunk_rows - first) / (last + 1 - first))
    return _finish(spec, groups)


def _merge(
    groups: dict[tuple[Any, ...], _Partial],
    row: Any,
    width: int,
    counted: list[str],
    measured: list[str],
) -> None:
    values = list(row.values())
    partial = groups.setdefault(tuple(values[:width]), _Partial())
    partial.count += row["n"]
    for name in counted:
        partial.counts[name] = partial.counts.get(name, 0) + row[f"cnt:{name}"]
    for name in measured:
        if row[f"cnt:{name}"]:
            partial.sums[name] = partial.sums.get(name, 0.0) + row[f"sum:{name}"]
            partial.counts[name] = partial.counts.get(name, 0) + row[f"cnt:{name}"]
            low, high = row[f"min:{name}"], row[f"max:{name}"]
            partial.mins[name] = low if name not in partial.mins else min(partial.mins[name], low)
            partial.maxs[name] = high if name not in partial.maxs else max(partial.maxs[name], high)


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
    if metric.op == "count":
        return partial.count if metric.field is None else partial.counts.get(metric.field, 0)
    name = metric.field or ""
    if name not in partial.counts:
        return None
    if metric.op == "sum":
        return partial.sums[name]
    if metric.op == "avg":
        return partial.sums[name] / partial.counts[name]
    return partial.mins[name] if metric.op == "min" else partial.maxs[name]
