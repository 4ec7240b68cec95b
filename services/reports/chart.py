"""An SVG bar chart made with matplotlib, inline in the HTML report (no network needed)."""

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a worker
import matplotlib.pyplot as plt

matplotlib.rcParams["svg.fonttype"] = "path"  # glyphs as paths: renders without the fonts


def bar_chart_svg(labels: list[str], values: list[float], title: str) -> str:
    figure, axes = plt.subplots(figsize=(8, 4))
    try:
        axes.bar(range(len(values)), values, color="#4a7bd0")
        axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        axes.set_title(title)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    finally:
        plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype: it goes inside HTML


def chart_for(rows: list[dict[str, Any]], group_by: list[str], metric: str) -> str:
    numeric = [row for row in rows if isinstance(row.get(metric), int | float)]
    labels = [" / ".join(str(row[name]) for name in group_by) for row in numeric]
    return bar_chart_svg(labels, [float(row[metric]) for row in numeric], metric)
