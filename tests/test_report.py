"""The sweep report from records: grouping by setting, spread over seeds, estimates, plots, per-job memory."""

import statistics
from pathlib import Path

import pytest

from sweeper.core.job_memory import JobPeak
from sweeper.records import write_record
from sweeper.report import groups, plots, summary, table

from .helpers.cli import PNG_MAGIC


def _record(seed, model, compile_s, l2, exact=True, status="ok", factory=None):
    config = {"seed": seed, "num_inits": 4, "features": 8, "constructor": "vmap", "model": model,
              "model_factory": factory}  # fmt: skip
    metrics = {"count": [4, 8, 4], "shape/kernel": [4, 8, 8], "shape/failed_leaves": ["a", "b"],
               "diversity/distinct_lanes": 4, "diversity/min_pairwise_l2": l2, "diversity/coords": 16,
               "diversity/exact": exact, "time/compile_s": compile_s, "time/build_s": 0.01}  # fmt: skip
    return {"status": status, "config": config, "metrics": metrics, "error": None if status == "ok" else "x"}


def _sweep(tmp_path, records):
    for job, record in enumerate(records):
        write_record(tmp_path / str(job), record)
    return summary.rows(tmp_path)


def test_lists_become_scalar_columns_and_l2_is_over_sqrt_p(tmp_path):
    (row,) = _sweep(tmp_path, [_record(0, "linear", 2.0, 8.0)])
    assert [row["count[0]"], row["count[1]"], row["count[2]"]] == [4, 8, 4]
    assert row["shape/failed_leaves"] == "a; b" and "count" not in row
    assert row["diversity/min_pairwise_l2_per_sqrt_p"] == 8.0 / 4  # sqrt(16 coords)
    assert row["diversity/distinct_fraction"] == 1.0


def test_seeds_are_averaged_within_a_setting_never_across_and_compile_counts_the_first_job(tmp_path):
    l2 = {"linear": [1.0, 2.0, 4.0], "mlp": [10.0, 12.0, 17.0]}
    records = [_record(s, m, 3.0 if s == 0 else 0.01, l2[m][s]) for m in l2 for s in range(3)]
    rows = _sweep(tmp_path, records)
    assert groups.varying(rows) == ["config/model"]
    found = groups.groups(rows)
    assert [g.setting for g in found] == [{"config/model": "linear"}, {"config/model": "mlp"}]
    for group, model in zip(found, l2, strict=True):
        stat = group.stat("diversity/min_pairwise_l2")
        assert stat.mean == pytest.approx(statistics.mean(l2[model]))
        assert stat.sd == pytest.approx(statistics.stdev(l2[model]))
        assert group.stat("time/compile_s").mean == 3.0  # the first seed compiled; the others reused it
    text = table.format_table(rows)
    assert len([line for line in text.splitlines() if line.lstrip().startswith("4  8")]) == 2
    assert "model" in text.splitlines()[0]
    csv_rows = groups.group_rows(rows)
    assert [r["config/model"] for r in csv_rows] == ["linear", "mlp"]
    assert csv_rows[1]["diversity/min_pairwise_l2.mean"] == pytest.approx(statistics.mean(l2["mlp"]))


def test_estimates_are_marked_in_the_table_and_groups(tmp_path):
    rows = _sweep(tmp_path, [_record(0, "linear", 1.0, 2.0, exact=False), _record(1, "linear", 0.0, 2.0)])
    assert "diversity/min_pairwise_l2" in groups.estimated(rows[0])
    assert "diversity/min_pairwise_l2" not in groups.estimated(rows[1])
    assert groups.group_rows(rows)[0]["diversity/min_pairwise_l2.estimated"] == 1
    assert "~0.5" in table.format_table(rows)  # min L2 / sqrt(P), marked


def test_plots_have_a_series_per_factory_and_failed_jobs_apart(tmp_path):
    records = [_record(s, "custom", 1.0, 2.0 + s, factory=f"m:{f}") for f in ("a", "b", "c") for s in range(2)]
    records.append(_record(0, "custom", 1.0, 0.0, status="failed", factory="m:d"))
    rows = _sweep(tmp_path, records)
    assert plots.x_key(rows) is None  # nothing numeric varies: one category per factory
    categories = {tuple(g.setting.items()): i for i, g in enumerate(groups.groups(rows))}
    points = plots._points(rows, "diversity/min_pairwise_l2", None, categories, 1.0)
    assert [p.series for p in points] == [(("config/model_factory", f"m:{f}"),) for f in "abcd"]
    assert [len(p.values) for p in points] == [2, 2, 2, 0] and points[3].failed == [0.0]
    written = plots.write_plots(rows, tmp_path, title="t")
    assert sorted(written) == ["build_time", "diversity"]
    assert all(Path(p).read_bytes()[:8] == PNG_MAGIC for p in written.values())


def test_a_jobs_peak_memory_is_its_own():
    JobPeak()  # an earlier job that used memory
    held = bytearray(64 * 2**20)
    held[:: 2**12] = b"x" * len(held[:: 2**12])  # touched: resident
    del held
    peak = JobPeak().metrics()  # a new job starts after the memory is freed
    assert peak["memory/job_peak_rss_bytes"] - peak["memory/job_start_rss_bytes"] < 64 * 2**20
    job = JobPeak()
    held = bytearray(64 * 2**20)
    held[:: 2**12] = b"x" * len(held[:: 2**12])
    metrics = job.metrics()
    assert metrics["memory/job_peak_rss_bytes"] - metrics["memory/job_start_rss_bytes"] >= 64 * 2**20


def test_the_independence_panel_is_drawn_only_from_metrics_the_records_have(tmp_path):
    rows = _sweep(tmp_path, [_record(0, "linear", 1.0, 2.0)])
    assert plots._independence_panel(rows) == []
    record = _record(1, "linear", 1.0, 2.0)
    record["metrics"]["independence/p_value"] = 0.4
    rows = _sweep(tmp_path, [_record(0, "linear", 1.0, 2.0), record])
    assert [p.keys for p in plots._independence_panel(rows)] == [["independence/p_value"]]
