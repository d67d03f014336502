"""The sweep summary, rebuilt from the job directories: rows, ``summary.csv``, a table.

It reads only what the jobs wrote, so it is the same whether the sweep ran to the end,
failed half-way or is rebuilt later.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from sweeper.records import job_dirs, read_record, write_atomic

CONFIG_COLUMNS = ("seed", "num_inits", "features", "constructor", "model")
# the columns of the printed table: (header, metric key, format)
TABLE = (
    ("N", "config/num_inits", "{}"),
    ("F", "config/features", "{}"),
    ("seed", "config/seed", "{}"),
    ("constructor", "config/constructor", "{}"),
    ("model", "config/model", "{}"),
    ("distinct", "diversity/distinct_lanes", "{}"),
    ("min L2", "diversity/min_pairwise_l2", "{:.3g}"),
    ("max|cos|", "diversity/max_abs_cosine", "{:.3g}"),
    ("compile s", "time/compile_s", "{:.3f}"),
    ("build s", "time/build_s", "{:.4f}"),
    ("status", "status", "{}"),
)


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
            row.update({f"config/{k}": record["config"].get(k) for k in CONFIG_COLUMNS})
            row.update(record.get("metrics", {}))
        out.append(row)
    return out


def _scalar(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_csv(table_rows: list[dict[str, Any]], path: Path) -> Path:
    columns: dict[str, None] = {}
    for row in table_rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _scalar(v) for k, v in row.items()} for row in table_rows)
    write_atomic(path, buffer.getvalue())
    return path


def _fmt(fmt: str, value: Any) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(table_rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of the main columns, one line per job."""
    header = ["job"] + [h for h, _, _ in TABLE]
    lines = [[str(r["job"])] + [_fmt(fmt, r.get(key)) for _, key, fmt in TABLE] for r in table_rows]
    widths = [max(len(cell) for cell in col) for col in zip(header, *lines, strict=True)]
    render = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([render(header), render(["-" * w for w in widths])] + [render(line) for line in lines])


def failures(table_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in table_rows if r["status"] != "ok"]


def report(table_rows: list[dict[str, Any]]) -> str:
    """The end-of-sweep verdict: a count, then one line per failed job with its reason."""
    failed = failures(table_rows)
    head = f"{len(table_rows) - len(failed)} of {len(table_rows)} jobs ok"
    return "\n".join([head] + [f"  job {r['job']} {r['status']}: {r['error']}" for r in failed])
