"""The core benchmark end to end on its --quick grid: a complete, self-consistent table."""

import json
import math

from sweeper.bench import core as bench


def test_quick_core_writes_consistent_table_and_png(tmp_path, capsys):
    bench.main(["--quick", "--out", str(tmp_path)])

    table = json.loads((tmp_path / "bench_core.json").read_text())
    rows = table["rows"]
    assert sorted((r["N"], r["F"]) for r in rows) == sorted(bench.QUICK_GRID)
    for r in rows:
        times = [r[f"{m}_s"] for m in bench.METHODS]
        assert all(math.isfinite(t) and t > 0 for t in times), r
        assert r["compile_s"] <= r["first_s"]  # first = compile + first run
        assert math.isclose(r["steady/floor"], r["steady_s"] / r["floor_s"])
        assert math.isclose(r["loop/floor"], r["loop_s"] / r["floor_s"])
        first_n1 = next(q["first_s"] for q in rows if q["N"] == 1 and q["F"] == r["F"])
        assert math.isclose(r["first/first(N=1)"], r["first_s"] / first_n1)

    csv_lines = (tmp_path / "bench_core.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(bench.COLUMNS) and len(csv_lines) == 1 + len(rows)
    assert (tmp_path / "bench_core.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| N | F |" in capsys.readouterr().out
