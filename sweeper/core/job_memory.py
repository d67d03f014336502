"""Resident memory during one job: the process's high-water mark, reset when the job starts.

``memory/process_peak_bytes`` (``ru_maxrss``) is the process's peak since it started, so
under the default launcher it only grows from job to job. Linux lets a process reset its
own high-water mark (``/proc/self/clear_refs``, ``VmHWM``), which makes the peak one job's.
Where that is not possible the per-job values are ``None``, never a cumulative number.
"""

from __future__ import annotations

import re
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        found = re.search(rf"^{field}:\s+(\d+) kB$", STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return None if found is None else int(found.group(1)) * 1024


class JobPeak:
    """Started at a job's start; :meth:`metrics` at its end."""

    def __init__(self) -> None:
        try:
            CLEAR_REFS.write_text("5")  # VmHWM := VmRSS now
            self.reset = True
        except OSError:
            self.reset = False
        self.start_bytes = _status_bytes("VmRSS")

    def metrics(self) -> dict[str, int | None]:
        return {
            "memory/job_start_rss_bytes": self.start_bytes,
            "memory/job_peak_rss_bytes": _status_bytes("VmHWM") if self.reset else None,
        }
