"""PNG plots of a sweep: build time and lane diversity against N."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def _distinct_fraction(row):
    distinct = row.get("diversity/distinct_lanes")
    return None if distinct is None else distinct / row["config/num_inits"]


def _series(table_rows, y_of):
    """{(F, constructor): sorted [(N, mean y over seeds)]} over the jobs that have y."""
    points = defaultdict(lambda: defaultdict(list))
    for r in table_rows:
        y = y_of(r)
        if isinstance(y, (int, float)) and not isinstance(y, bool):
            points[(r["config/features"], r["config/constructor"])][r["config/num_inits"]].append(y)
    return {k: sorted((n, sum(ys) / len(ys)) for n, ys in v.items()) for k, v in sorted(points.items())}


def _panel(ax, table_rows, y_of, ylabel, log_y):
    for (features, constructor), pts in _series(table_rows, y_of).items():
        ax.plot([n for n, _ in pts], [y for _, y in pts], marker="o", label=f"F={features} {constructor}")
    ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("N (num_inits)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def write_plots(table_rows: list[dict[str, Any]], out_dir: Path) -> dict[str, str]:
    """``build_time.png`` and ``diversity.png`` in ``out_dir``; returns ``{name: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def metric(key):
        return lambda row: row.get(key)

    panels = {
        "build_time": [
            (metric("time/build_s"), "build time (s, mean over seeds)", True),
            (metric("time/compile_s"), "trace + compile time (s)", False),
        ],
        "diversity": [
            (_distinct_fraction, "distinct lanes / N", False),
            (metric("diversity/mean_pairwise_l2"), "mean pairwise L2", False),
            (metric("diversity/max_abs_cosine"), "max |cosine| between lanes", False),
        ],
    }
    paths = {}
    for name, specs in panels.items():
        fig, axes = plt.subplots(1, len(specs), figsize=(5 * len(specs), 4), squeeze=False)
        for ax, (y_of, label, log_y) in zip(axes[0], specs, strict=False):
            _panel(ax, table_rows, y_of, label, log_y)
        fig.suptitle(f"sweeper: {name.replace('_', ' ')} against N")
        fig.tight_layout()
        path = Path(out_dir) / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths[name] = str(path)
    return paths
