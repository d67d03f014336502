"""The printed table: one line per shape and setting, mean ± spread over seeds."""

from __future__ import annotations

from typing import Any

from sweeper.report.groups import SHAPE, Group, estimated, groups, label, varying

# (header, metric key, format of one number); a column whose metric no job has is left out
COLUMNS = (
    ("distinct/N", "diversity/distinct_fraction", "{:.3g}"),
    ("min L2/√P", "diversity/min_pairwise_l2_per_sqrt_p", "{:.3g}"),
    ("mean L2/√P", "diversity/mean_pairwise_l2_per_sqrt_p", "{:.3g}"),
    ("max|cos|", "diversity/max_abs_cosine", "{:.3g}"),
    ("scale min", "diversity/scale_ratio_min", "{:.3g}"),
    ("scale max", "diversity/scale_ratio_max", "{:.3g}"),
    ("compile s", "time/compile_s", "{:.2f}"),
    ("build s", "time/build_s", "{:.3g}"),
    ("job +MB", "memory/job_rss_growth_bytes", "{:.0f}"),
)
MB = 2**20
LEGEND = (
    "mean±sd over seeds; ~ estimated (sampled) in some seed; L2/√P: pairwise L2 over sqrt(parameters per lane);\n"
    "compile s: the group's first job, the one that compiled; job +MB: resident memory the job added at its peak"
)


def _cell(group: Group, key: str, fmt: str) -> str:
    stat = group.stat(key)
    if stat is None:
        return "-"
    scale = MB if key.startswith("memory/") else 1
    text = fmt.format(stat.mean / scale)
    if stat.sd is not None and stat.sd > 0:
        text += "±" + (fmt if fmt.endswith("f}") else "{:.1g}").format(stat.sd / scale)
    return ("~" if stat.estimated else "") + text


def format_table(table_rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table: the settings that vary (N and F always), seeds, ok, then the metrics."""
    settings = list(dict.fromkeys([*SHAPE, *varying(table_rows)]))
    present = {k for r in table_rows for k in r}
    columns = [c for c in COLUMNS if c[1] in present]
    header = [label(k) for k in settings] + ["seeds", "ok"] + [h for h, _, _ in columns]
    lines = []
    for group in groups(table_rows):
        first = group.jobs[0]
        cells = [str(first.get(k, "-")) for k in settings] + [str(len(group.jobs)), str(group.ok)]
        lines.append(cells + [_cell(group, key, fmt) for _, key, fmt in columns])
    widths = [max(len(cell) for cell in col) for col in zip(header, *lines, strict=True)]
    render = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    table = [render(header), render(["-" * w for w in widths])] + [render(line) for line in lines]
    return "\n".join([*table, LEGEND])


def key_numbers(record: dict[str, Any]) -> str:
    """One job's numbers in one line, for a single run's console: lanes, distances, scale, time."""
    from sweeper.report.summary import job_scalars

    m, c = job_scalars(record), record["config"]
    parts = [f"N={c.get('num_inits')} F={c.get('features')} {c.get('model')} {c.get('constructor')}"]
    if (distinct := m.get("diversity/distinct_lanes")) is not None:
        parts.append(f"{distinct} of {c.get('num_inits')} lanes distinct")
    guess = "~" if "diversity/min_pairwise_l2" in estimated(m) else ""
    if (low := m.get("diversity/min_pairwise_l2_per_sqrt_p")) is not None:
        parts.append(f"L2/√P min {guess}{low:.3g} mean {guess}{m['diversity/mean_pairwise_l2_per_sqrt_p']:.3g}")
    if (cos := m.get("diversity/max_abs_cosine")) is not None:
        parts.append(f"max|cos| {guess}{cos:.3g}")
    if (lo := m.get("diversity/scale_ratio_min")) is not None:
        parts.append(f"scale {lo:.3g}..{m['diversity/scale_ratio_max']:.3g}")
    if (compile_s := m.get("time/compile_s")) is not None:
        parts.append(f"compile {compile_s:.2f} s, build {m['time/build_s'] * 1000:.1f} ms")
    return "; ".join(parts)
