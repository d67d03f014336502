"""Seeds grouped: one row per shape and setting, each metric as mean and spread over seeds.

A *setting* is every config value of a job but its seed; the ones that differ between the
sweep's jobs (:func:`varying`) name the groups, the series of the plots and the columns of
the table. Seeds are averaged within a group, never across groups. Compile time is the
exception: only the first job of a group compiles (the others reuse its executables), so
a group's compile time is its first job's, not a mean that dilutes it by the seed count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sweeper.report.summary import is_number

SHAPE = ("config/num_inits", "config/features")
COMPILE = "time/compile_s"
NOT_A_SETTING = ("config/seed",)
# short names for the config columns people read most
LABELS = {"config/num_inits": "N", "config/features": "F", "config/model_factory": "factory"}


def label(key: str) -> str:
    return LABELS.get(key, key.removeprefix("config/"))


def varying(table_rows: list[dict[str, Any]]) -> list[str]:
    """The config keys, seed aside, whose value differs between jobs: N and F first."""
    keys = [k for r in table_rows for k in r if k.startswith("config/") and k not in NOT_A_SETTING]
    ordered = [*[k for k in SHAPE if k in keys], *sorted(dict.fromkeys(k for k in keys if k not in SHAPE))]
    return [k for k in ordered if len({repr(r.get(k)) for r in table_rows if "config/seed" in r}) > 1]


def estimated(row: dict[str, Any]) -> set[str]:
    """The keys of ``row`` that hold estimates, by the markers a record carries.

    ``<prefix>/exact = False`` marks every value under ``<prefix>/``; ``<key>/estimated``
    or ``<key>_estimated`` true, or a ``<key>/stderr`` / ``<key>_stderr``, marks ``<key>``.
    """
    marks: set[str] = set()
    for key, value in row.items():
        if key.endswith("/exact") and value is False:
            marks.update(k for k in row if k.startswith(key.removesuffix("exact")))
        for suffix in ("/estimated", "_estimated"):
            if key.endswith(suffix) and value is True:
                marks.add(key.removesuffix(suffix))
        for suffix in ("/stderr", "_stderr"):
            if key.endswith(suffix) and value is not None:
                marks.add(key.removesuffix(suffix))
    per_sqrt_p = {k for k in row if k.endswith("_per_sqrt_p") and k.removesuffix("_per_sqrt_p") in marks}
    return marks | per_sqrt_p


@dataclass
class Stat:
    mean: float
    sd: float | None  # sample standard deviation over seeds; None for one seed
    values: list[float]
    estimated: int = 0  # how many of the values are estimates


@dataclass
class Group:
    setting: dict[str, Any]  # the varying config values, seed aside
    jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(r["status"] == "ok" for r in self.jobs)

    @property
    def seeds(self) -> list[Any]:
        return [r.get("config/seed") for r in self.jobs]

    def stat(self, key: str) -> Stat | None:
        """Mean and spread of ``key`` over the group's jobs that have it (compile time: the first job's)."""
        jobs = [r for r in self.jobs if is_number(r.get(key))]
        if key == COMPILE:
            jobs = jobs[:1]
        if not jobs:
            return None
        values = [float(r[key]) for r in jobs]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        return Stat(mean, sd, values, sum(key in estimated(r) for r in jobs))


def _order(value: Any) -> tuple:
    return (0, value, "") if is_number(value) else (1, 0, str(value))


def groups(table_rows: list[dict[str, Any]]) -> list[Group]:
    """The jobs that have a config, grouped by their varying settings; by shape, then setting."""
    keys = varying(table_rows)
    found: dict[tuple, Group] = {}
    for row in table_rows:
        if "config/seed" not in row:
            continue  # no record: the report names it
        setting = {k: row.get(k) for k in keys}
        found.setdefault(tuple(map(repr, setting.values())), Group(setting)).jobs.append(row)
    return sorted(found.values(), key=lambda g: [_order(v) for v in g.setting.values()])


def metric_keys(table_rows: list[dict[str, Any]]) -> list[str]:
    """The numeric metrics of the sweep, in the order the jobs report them."""
    keys = dict.fromkeys(k for r in table_rows for k, v in r.items() if is_number(v) and not k.startswith("config/"))
    keys.pop("job", None)
    return list(keys)


def group_rows(table_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``groups.csv``: per group its config, job counts and ``<metric>.mean`` / ``.sd`` (``.estimated``)."""
    config_keys = [k for k in dict.fromkeys(k for r in table_rows for k in r) if k.startswith("config/")]
    metrics = metric_keys(table_rows)
    out = []
    for group in groups(table_rows):
        first = group.jobs[0]
        row: dict[str, Any] = {k: first.get(k) for k in config_keys if k not in NOT_A_SETTING}
        row.update(jobs=len(group.jobs), jobs_ok=group.ok, seeds="; ".join(map(str, group.seeds)))
        row["failed_jobs"] = "; ".join(str(r["job"]) for r in group.jobs if r["status"] != "ok")
        for key in metrics:
            if (stat := group.stat(key)) is not None:
                row.update({f"{key}.mean": stat.mean, f"{key}.sd": stat.sd})
                if stat.estimated:
                    row[f"{key}.estimated"] = stat.estimated
        out.append(row)
    return out
