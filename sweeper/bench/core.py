"""Core benchmark: how the cost of building an N-lane ``linear`` ensemble grows with N.

Run ``python -m sweeper.bench`` (same as ``python -m sweeper.bench core``). For each
(N, F) it times, in one process, with ``time.perf_counter`` and ``block_until_ready``:

- ``eager``: the ``vmap_constructor`` recipe run without jit (steady state);
- ``compile`` / ``first``: a fresh ``compiled_builder`` (trace + compile) and that plus
  its first build;
- ``steady``: the compiled builder on new seeds;
- ``loop``: the serial ``loop_build`` baseline;
- ``floor``: one jitted ``jax.random.normal`` drawing as many values as kernel + bias.

Steady-state numbers are the minimum over ``--reps`` calls after a warm-up call.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
from flax import nnx

from sweeper.core.ensemble import compiled_builder, loop_build, vmap_constructor
from sweeper.core.models import linear

CORE_GRID = [(n, f) for f in (64, 256) for n in (1, 64, 1024)] + [(512, 256)]
QUICK_GRID = [(1, 16), (8, 16)]
METHODS = ("eager", "compile", "first", "steady", "loop", "floor")
COLUMNS = (
    "N",
    "F",
    "eager_s",
    "compile_s",
    "first_s",
    "steady_s",
    "loop_s",
    "floor_s",
    "steady/floor",
    "first/first(N=1)",
    "loop/floor",
)
LOOP_BUDGET_S = 5.0  # the serial baseline stops repeating once this much time is spent
STEADY_TARGET = (512, 256, 1.3)  # (N, F, max steady/floor)
FLAT_TARGET = (1, 1024, 2.0)  # first(N=1024) within 2x of first(N=1)
LINEAR_TARGET = (64, 1024)  # loop(1024) / loop(64) against the ideal 16x


def min_time(fn: Callable[[int], object], reps: int, seed0: int = 1, budget_s: float = math.inf) -> float:
    """Fastest of ``reps`` synchronised calls ``fn(seed)``, one new seed per call.

    Stops early (after at least one call) once ``budget_s`` seconds have been spent.
    """
    best, spent = math.inf, 0.0
    for seed in range(seed0, seed0 + reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(seed))
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent >= budget_s:
            break
    return best


def floor_fn(n: int, features: int) -> Callable[[int], jax.Array]:
    """A compiled draw of N*F*F + N*F standard normals: the cost of the values alone."""
    size = n * features * features + n * features
    draw = jax.jit(lambda key: jax.random.normal(key, (size,)))
    compiled = draw.lower(jax.eval_shape(jax.random.key, 0)).compile()
    return lambda seed: compiled(jax.random.key(seed))


def measure_row(n: int, features: int, reps: int) -> dict:
    """All methods for one (N, F); times in seconds."""
    compiled_builder.cache_clear()  # so this shape pays trace + compile below
    start = time.perf_counter()
    builder = compiled_builder("linear", "vmap", n, features)
    jax.block_until_ready(nnx.state(builder(0)))
    row = {"N": n, "F": features, "compile_s": builder.compile_s, "first_s": time.perf_counter() - start}
    row["steady_s"] = min_time(lambda seed: nnx.state(builder(seed)), reps)

    make = vmap_constructor(linear, n, features)

    def eager(seed: int) -> nnx.State:
        return nnx.state(make(nnx.Rngs(seed)))

    jax.block_until_ready(eager(0))  # warm-up: compiles the per-primitive kernels for this shape
    row["eager_s"] = min_time(eager, reps)

    def loop(seed: int, lanes: int = n) -> nnx.State:
        return nnx.state(loop_build(seed, lanes, features))

    jax.block_until_ready(loop(0, lanes=2))  # warm-up with small N: the per-lane kernels for this F
    row["loop_s"] = min_time(loop, reps, budget_s=LOOP_BUDGET_S)

    floor = floor_fn(n, features)
    jax.block_until_ready(floor(0))
    row["floor_s"] = min_time(floor, reps)
    return row


def add_ratios(rows: list[dict]) -> list[dict]:
    """Ratios to the floor, and first-build time relative to N=1 at the same F."""
    first_n1 = {r["F"]: r["first_s"] for r in rows if r["N"] == 1}
    for r in rows:
        r["steady/floor"] = r["steady_s"] / r["floor_s"]
        r["loop/floor"] = r["loop_s"] / r["floor_s"]
        r["first/first(N=1)"] = r["first_s"] / first_n1[r["F"]] if r["F"] in first_n1 else math.nan
    return rows


def run_core(grid: list[tuple[int, int]], reps: int) -> list[dict]:
    """Measure every (N, F) of ``grid``, after a process-wide warm-up on a tiny shape."""
    measure_row(2, 8, 1)  # backend start-up and first-use costs, kept out of the table
    rows = []
    for i, (n, features) in enumerate(grid, 1):
        print(f"[{i}/{len(grid)}] N={n} F={features}", file=sys.stderr, flush=True)
        rows.append(measure_row(n, features, reps))
    return add_ratios(sorted(rows, key=lambda r: (r["F"], r["N"])))


def verdicts(rows: list[dict]) -> list[str]:
    """The three targets as PASS/MISS lines; a target whose rows are missing is skipped."""
    by = {(r["N"], r["F"]): r for r in rows}
    lines = []
    n, f, limit = STEADY_TARGET
    if (n, f) in by:
        ratio = by[n, f]["steady/floor"]
        lines.append(
            f"{'PASS' if ratio <= limit else 'MISS'} (a) steady build N={n} F={f}: "
            f"{ratio:.2f}x the floor (target <= {limit}x)"
        )
    lo, hi, limit = FLAT_TARGET
    for f in sorted({r["F"] for r in rows}):
        if (lo, f) in by and (hi, f) in by:
            ratio = by[hi, f]["first_s"] / by[lo, f]["first_s"]
            compile_ratio = by[hi, f]["compile_s"] / by[lo, f]["compile_s"]
            first_run = by[hi, f]["first_s"] - by[hi, f]["compile_s"]  # what is not compile
            lines.append(
                f"{'PASS' if ratio <= limit else 'MISS'} (b) first build flat in N, F={f}: "
                f"first(N={hi}) / first(N={lo}) = {ratio:.2f}x (target <= {limit}x); "
                f"compile alone {compile_ratio:.2f}x, first run at N={hi} {first_run:.3g} s"
            )
    lo, hi = LINEAR_TARGET
    for f in sorted({r["F"] for r in rows}):
        if (lo, f) in by and (hi, f) in by:
            ratio, ideal = by[hi, f]["loop_s"] / by[lo, f]["loop_s"], hi / lo
            slope = math.log(ratio) / math.log(ideal)
            ok = ideal / 2 <= ratio <= ideal * 2
            lines.append(
                f"{'PASS' if ok else 'MISS'} (c) loop linear in N, F={f}: loop(N={hi}) / loop(N={lo}) "
                f"= {ratio:.1f}x (ideal {ideal:.0f}x, log-log slope {slope:.2f}; target within 2x)"
            )
    return lines


def format_table(rows: list[dict]) -> str:
    """A markdown table, seconds to 3 significant digits, ratios to 2 decimals."""

    def cell(key: str, value) -> str:
        if key in ("N", "F"):
            return str(value)
        return f"{value:.3g}" if key.endswith("_s") else f"{value:.2f}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---:" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell(k, r[k]) for k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Time vs N on log-log axes, one line per method, one panel per F."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths = sorted({r["F"] for r in rows})
    fig, axes = plt.subplots(1, len(widths), figsize=(5.5 * len(widths), 4.5), squeeze=False)
    for ax, f in zip(axes[0], widths, strict=True):
        sub = [r for r in rows if r["F"] == f]
        for method in METHODS:
            style = {"color": "black", "linestyle": "--"} if method == "floor" else {}
            ax.plot([r["N"] for r in sub], [r[f"{method}_s"] for r in sub], marker="o", label=method, **style)
        ax.set(xscale="log", yscale="log", xlabel="N (ensemble lanes)", ylabel="seconds", title=f"F = {f}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"Building a linear ensemble ({jax.devices()[0].platform})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(rows: list[dict], lines: list[str], out: Path, reps: int) -> None:
    """``bench_core.json`` (table, verdicts, context), ``bench_core.csv`` and ``bench_core.png``."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {"reps": reps, "jax": jax.__version__, "device": str(jax.devices()[0])}
    payload = {"rows": rows, "verdicts": lines, "meta": meta}
    (out / "bench_core.json").write_text(json.dumps(payload, indent=2))
    with open(out / "bench_core.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: r[k] for k in COLUMNS} for r in rows)
    plot(rows, out / "bench_core.png")


def core(args: argparse.Namespace) -> None:
    grid, reps = (QUICK_GRID, 2) if args.quick else (CORE_GRID, args.reps)
    if reps < 1:
        raise SystemExit(f"--reps={reps}: expected at least 1")
    rows = run_core(grid, reps)
    lines = verdicts(rows)
    print(format_table(rows))
    print()
    print("\n".join(lines) if lines else "(no target rows in this grid: verdicts skipped)")
    write_outputs(rows, lines, Path(args.out), reps)
    print(f"\nwrote {args.out}/bench_core.{{json,csv,png}}", file=sys.stderr)


def memory(args: argparse.Namespace) -> None:
    from sweeper.bench.memory import run

    run(args.jobs, args.from_job, Path(args.out))


def sweep(args: argparse.Namespace) -> None:
    from sweeper.bench.sweep import run

    run(args.grids, Path(args.out), quick=args.quick)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sweeper.bench",
        description="Benchmarks of batched ensemble building (default subcommand: core).",
    )
    commands = parser.add_subparsers(dest="command")
    p_core = commands.add_parser("core", help="build time vs N for each method (the default)")
    p_core.add_argument("--reps", type=int, default=5, help="timed calls per steady-state number")
    p_core.add_argument("--quick", action="store_true", help="tiny grid (N in 1, 8; F=16), 2 reps")
    p_core.add_argument("--out", default="outputs/bench", help="folder for the PNG, JSON and CSV")
    p_core.set_defaults(func=core)
    p_sweep = commands.add_parser("sweep", help="`sweeper -m` against the plain app on the same grids")
    p_sweep.add_argument(
        "--grids", nargs="+", default=["reference", "es"], choices=["reference", "es", "default", "smoke"]
    )
    p_sweep.add_argument("--quick", action="store_true", help="one tiny grid (seeds 0,1 x N in 1,4 x F=4) instead")
    p_sweep.add_argument("--out", default="outputs/bench", help="folder for bench_sweep.{json,md} and the sweeps")
    p_sweep.set_defaults(func=sweep)
    p_memory = commands.add_parser("memory", help="the sweep process's memory over a long sweep of small shapes")
    p_memory.add_argument("--jobs", type=int, default=2000, help="jobs in the sweep")
    p_memory.add_argument("--from-job", type=int, default=500, help="the slope is taken from this job to the last")
    p_memory.add_argument("--out", default="outputs/bench", help="folder for bench_memory.json and the sweep")
    p_memory.set_defaults(func=memory)

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in commands.choices and argv[0] not in ("-h", "--help")):
        argv.insert(0, "core")  # no subcommand given: run `core`
    args = parser.parse_args(argv)
    args.func(args)
