"""The sweep's charts as plain tables, for native W&B charts: one point per setting, x as in the plots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweeper.report.groups import COMPILE, groups, label
from sweeper.report.plots import x_key

METRICS = (
    ("diversity/distinct_fraction", "distinct lanes / N"),
    ("diversity/mean_pairwise_l2_per_sqrt_p", "mean pairwise L2 / sqrt(P)"),
    ("diversity/min_pairwise_l2_per_sqrt_p", "min pairwise L2 / sqrt(P)"),
    ("diversity/max_abs_cosine", "max |cosine| between lanes"),
    ("diversity/scale_ratio_min", "lane std / init std, min"),
    ("diversity/scale_ratio_max", "lane std / init std, max"),
    ("time/build_s", "build time (s)"),
    (COMPILE, "compile time (s), a setting's first job"),
    ("memory/job_rss_growth_bytes", "resident memory the job added (bytes)"),
)


@dataclass(frozen=True)
class Chart:
    key: str  # the metric, also the chart's name under charts/
    title: str
    x: str | None  # a numeric column of ``columns``; None: one bar per setting
    columns: list[str]  # x (if any), "setting", the metric's mean over seeds, "sd", "seeds", "jobs_failed"
    data: list[list[Any]]


def charts(table_rows: list[dict[str, Any]]) -> list[Chart]:
    """One chart per metric the jobs have: its mean over the seeds of each setting."""
    x = x_key(table_rows)
    out = []
    for key, title in METRICS:
        data = []
        for group in groups(table_rows):
            if (stat := group.stat(key)) is None:
                continue
            setting = " ".join(f"{label(k)}={v}" for k, v in group.setting.items() if k != x) or "all jobs"
            failed = len(group.jobs) - group.ok
            data.append([*([group.setting[x]] if x else []), setting, stat.mean, stat.sd, len(stat.values), failed])
        if data:
            columns = [*([label(x)] if x else []), "setting", key, "sd", "seeds", "jobs_failed"]
            out.append(Chart(key, title, label(x) if x else None, columns, data))
    return out
