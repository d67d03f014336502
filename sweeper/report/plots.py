"""PNG plots of a sweep: diversity, checks and time against what the sweep varies.

x is the first numeric setting that varies (N, else F, else ...); every other varying
setting (model, factory, constructor, param dtype, ...) makes its own series, so nothing a
user compares is averaged together. With no numeric setting varying, each setting is one
category on x. Per point: every seed as a small dot, the mean over seeds with ±1 sd bars.
Hollow markers are estimates (sampled statistics); red crosses are failed jobs, at their
value when they have one, at the bottom of the panel when they do not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.report.groups import COMPILE, SHAPE, estimated, groups, label, varying
from sweeper.report.summary import is_number

MB = 2**20


@dataclass(frozen=True)
class Panel:
    keys: Sequence[str]  # one metric, or several drawn with their own line styles (min and max)
    ylabel: str
    log_y: bool = False
    scale: float = 1.0  # values are divided by it
    reference: float | None = None  # a horizontal line, e.g. the ideal ratio 1
    names: Sequence[str] = ()  # the keys' names in the panel's title, when there are several
    range_bars: bool = False  # bars over the seeds' range, not ±sd (a quantity that cannot go below 0)


FIGURES = {
    "diversity": (
        Panel(["diversity/distinct_fraction"], "distinct lanes / N"),
        Panel(
            ["diversity/mean_pairwise_l2_per_sqrt_p", "diversity/min_pairwise_l2_per_sqrt_p"],
            "pairwise L2 / √P",
            names=("mean", "min"),
        ),
        Panel(["diversity/max_abs_cosine"], "max |cosine| between lanes"),
        Panel(
            ["diversity/scale_ratio_min", "diversity/scale_ratio_max"],
            "lane std / init std",
            reference=1.0,
            names=("min", "max"),
        ),
    ),
    "build_time": (
        Panel(["time/build_s"], "build time (s)", log_y=True),
        Panel([COMPILE], "compile (s): a setting's 1st job", log_y=True),
        Panel(["time/total_s"], "job total (s)", log_y=True),
        Panel(["memory/job_rss_growth_bytes"], "resident memory the job added (MB)", scale=MB, range_bars=True),
    ),
}
STYLES = ("-", "--", ":")
STYLE_NAMES = ("(solid)", "(dashed)", "(dotted)")


def _independence_panel(table_rows) -> list[Panel]:
    """The independence test's numbers, whatever the record calls them; none if it has none."""
    keys = sorted({k for r in table_rows for k, v in r.items() if "independ" in k and is_number(v)})
    return [Panel(keys[:2], "independence test")] if keys else []


def x_key(table_rows) -> str | None:
    """The first varying setting that is a number for every job: x of the plots and charts."""
    numeric = lambda k: all(is_number(r.get(k)) for r in table_rows if "config/seed" in r)  # noqa: E731
    return next((k for k in varying(table_rows) if numeric(k)), None)


def _describe(setting: dict[str, Any]) -> str:
    return " ".join(f"{label(k)}={v}" for k, v in setting.items()) or "all jobs"


def _spans_decades(values) -> bool:
    values = [v for v in values if v > 0]
    return bool(values) and max(values) / min(values) >= 10


@dataclass
class Point:
    series: tuple  # the varying settings other than x
    x: Any
    values: list[float]  # one per ok job that has the metric (compile time: the first only)
    failed: list[float | None]  # one per failed job: its value, if it has one
    guessed: bool  # some value is an estimate


def _points(table_rows, key: str, x_key: str | None, categories: dict, scale: float) -> list[Point]:
    out = []
    for group in groups(table_rows):
        setting = dict(group.setting)
        x = setting.pop(x_key) if x_key else categories[tuple(group.setting.items())]
        ok = [r for r in group.jobs if r["status"] == "ok" and is_number(r.get(key))]
        if key == COMPILE:
            ok = ok[:1]  # the seeds after the first reuse its executables
        failed = [r[key] / scale if is_number(r.get(key)) else None for r in group.jobs if r["status"] != "ok"]
        guessed = any(key in estimated(r) for r in ok)
        out.append(Point(tuple(setting.items()), x, [r[key] / scale for r in ok], failed, guessed))
    return out


def _mean_and_bars(values: list[float], log_y: bool) -> tuple[float, list[float]]:
    """The mean and its bars below and above: ±1 sd, or the seeds' range on a log axis (no bar below 0)."""
    mean = sum(values) / len(values)
    if log_y:
        return mean, [mean - min(values), max(values) - mean]
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, [sd, sd]


def _draw(ax, table_rows, panel: Panel, x_key: str | None, categories: dict, colors: dict) -> None:
    from matplotlib.transforms import blended_transform_factory

    points = {key: _points(table_rows, key, x_key, categories, panel.scale) for key in panel.keys}
    log_y = panel.log_y and _spans_decades([v for pts in points.values() for p in pts for v in p.values])
    if log_y:
        ax.set_yscale("log")
    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    for style, key in zip(STYLES, panel.keys, strict=False):
        lines: dict[tuple, list] = {}
        for p in points[key]:
            color, face = colors[p.series], "white" if p.guessed else colors[p.series]
            for y in p.failed:
                at = (y, ax.transData) if y is not None else (0.02, bottom)
                ax.plot([p.x], [at[0]], "x", color="red", markersize=8, transform=at[1], zorder=4)
            if not p.values:
                continue
            ax.plot([p.x] * len(p.values), p.values, "o", color=color, markerfacecolor=face, alpha=0.3, markersize=3)
            mean, bars = _mean_and_bars(p.values, log_y or panel.range_bars)
            ax.errorbar([p.x], [mean], yerr=[[b] for b in bars], fmt="o", color=color, mfc=face, capsize=3, zorder=3)
            lines.setdefault(p.series, []).append((p.x, mean))
        for series, xy in lines.items():
            ax.plot(*zip(*sorted(xy), strict=True), style, color=colors[series], zorder=3)
    if panel.reference is not None:
        ax.axhline(panel.reference, color="gray", linewidth=0.8)
    _axes(ax, panel, table_rows, x_key, categories, log_y)


def _axes(ax, panel: Panel, table_rows, x_key: str | None, categories: dict, log_y: bool) -> None:
    if panel.names:
        ax.set_title(", ".join(f"{n} {s}" for n, s in zip(panel.names, STYLE_NAMES, strict=False)), fontsize="small")
    ax.set_ylabel(panel.ylabel + (" (bars: seeds' range)" if log_y or panel.range_bars else ""))
    ax.set_xlabel(label(x_key) if x_key else "setting")
    if x_key is None:
        names = [_describe(dict(c)) for c in categories]
        ax.set_xticks(list(categories.values()), names, rotation=20, ha="right", fontsize="small")
    else:
        xs = sorted({r[x_key] for r in table_rows if is_number(r.get(x_key))})
        if _spans_decades(xs):
            ax.set_xscale("log", base=2)
        if len(xs) <= 8:
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.minorticks_off()
    ax.grid(True, alpha=0.3)


def write_plots(table_rows: list[dict[str, Any]], out_dir: Path, title: str = "") -> dict[str, str]:
    """``diversity.png`` and ``build_time.png`` in ``out_dir``; returns ``{name: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = varying(table_rows)
    x = x_key(table_rows)
    categories = {tuple(g.setting.items()): i for i, g in enumerate(groups(table_rows))}
    series = {tuple((k, v) for k, v in g.setting.items() if k != x) for g in groups(table_rows)}
    colors = {s: f"C{i % 10}" for i, s in enumerate(sorted(series, key=repr))}
    present = {k for r in table_rows for k, v in r.items() if v is not None}
    fixed = {k: v for k in SHAPE if k not in keys for v in [next((r[k] for r in table_rows if k in r), None)]}
    paths = {}
    for name, specs in FIGURES.items():
        panels = [p for p in specs if present.intersection(p.keys)]
        panels += _independence_panel(table_rows) if name == "diversity" else []
        if not panels:
            continue
        cols = 2 if len(panels) == 4 else min(3, len(panels))
        rows_ = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows_, cols, figsize=(4.4 * cols, 3.6 * rows_ + 0.6), squeeze=False)
        for ax, panel in zip(axes.flat, panels, strict=False):
            _draw(ax, table_rows, panel, x, categories, colors)
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        handles = [plt.Line2D([], [], color=c, marker="o", label=_describe(dict(s))) for s, c in colors.items()]
        handles += [
            plt.Line2D([], [], color="gray", marker="o", linestyle="", alpha=0.4, markersize=3, label="one seed"),
            plt.Line2D([], [], color="gray", marker="o", markerfacecolor="white", linestyle="", label="estimated"),
            plt.Line2D([], [], color="red", marker="x", linestyle="", label="failed job"),
        ]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)
        where = f" at {_describe(fixed)}" if fixed else ""
        fig.suptitle(f"sweep {title}: {name.replace('_', ' ')}{where} (mean ± sd over seeds)")
        fig.tight_layout()
        path = Path(out_dir) / f"{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths[name] = str(path)
    return paths
