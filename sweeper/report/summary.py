"""The sweep summary, rebuilt from the job directories: one flat row per job, ``summary.csv``.

It reads only what the jobs wrote, so it is the same whether the sweep ran to the end,
failed half-way or is rebuilt later. Every value in a row is a scalar: a list metric
such as ``shape/kernel = [4, 8, 8]`` becomes ``shape/kernel[0]``, ``shape/kernel[1]``, ...
(a list of names becomes one ``"; "``-joined string), so that a CSV column or a W&B
chart holds one number. Grouping seeds into rows a person reads is :mod:`sweeper.report.groups`.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from sweeper.records import job_dirs, read_record, write_atomic

# derived per job: pairwise L2 over sqrt(P), P the parameters per lane, so widths compare
# (two independent draws of P unit-variance coordinates are about sqrt(2 P) apart)
PER_SQRT_P = {
    "diversity/min_pairwise_l2_per_sqrt_p": "diversity/min_pairwise_l2",
    "diversity/mean_pairwise_l2_per_sqrt_p": "diversity/mean_pairwise_l2",
}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scalars(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every list split into scalars: ``key[i]`` per number, names joined."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(scalars({f"{key}/{k}": v for k, v in value.items()}))
        elif isinstance(value, (list, tuple)):
            if all(is_number(v) for v in value):
                out.update({f"{key}[{i}]": v for i, v in enumerate(value)})
            else:
                out[key] = "; ".join(map(str, value))
        else:
            out[key] = value
    return out


def _derived(metrics: dict[str, Any], n: Any) -> dict[str, float]:
    """L2 over sqrt(P); ``diversity/distinct_fraction`` (distinct lanes / N); memory the job added."""
    out = {}
    if is_number(distinct := metrics.get("diversity/distinct_lanes")) and is_number(n) and n > 0:
        out["diversity/distinct_fraction"] = distinct / n
    if is_number(coords := metrics.get("diversity/coords")) and coords > 0:
        out.update(
            {k: metrics[src] / math.sqrt(coords) for k, src in PER_SQRT_P.items() if is_number(metrics.get(src))}
        )
    peak, start = metrics.get("memory/job_peak_rss_bytes"), metrics.get("memory/job_start_rss_bytes")
    if is_number(peak) and is_number(start):
        out["memory/job_rss_growth_bytes"] = peak - start
    return out


def job_scalars(record: dict[str, Any]) -> dict[str, Any]:
    """A record's metrics as scalars, with the derived ones: a job's W&B summary, its row's metrics."""
    metrics = record.get("metrics", {})
    return scalars(metrics) | _derived(metrics, record["config"].get("num_inits"))


def rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One flat row per job directory; a job that left no record shows as ``missing``."""
    out = []
    for job_dir in job_dirs(sweep_dir):
        record = read_record(job_dir)
        row: dict[str, Any] = {"job": int(job_dir.name), "dir": job_dir.name}
        if record is None:
            row.update(status="missing", error="no result.json: the job never finished")
        else:
            row.update(status=record["status"], error=record.get("error"))
            row.update(scalars({f"config/{k}": v for k, v in record["config"].items()}))
            row.update(job_scalars(record))
        out.append(row)
    return out


def write_csv(table_rows: list[dict[str, Any]], path: Path) -> Path:
    columns: dict[str, None] = {}
    for row in table_rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(table_rows)
    write_atomic(path, buffer.getvalue())
    return path


def failures(table_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in table_rows if r["status"] != "ok"]


def report(table_rows: list[dict[str, Any]]) -> str:
    """The end-of-sweep verdict: a count, then one line per failed job with its reason."""
    failed = failures(table_rows)
    head = f"{len(table_rows) - len(failed)} of {len(table_rows)} jobs ok"
    return "\n".join([head] + [f"  job {r['job']} {r['status']}: {r['error']}" for r in failed])
