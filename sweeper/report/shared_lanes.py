"""Independence across the sweep: lanes that two jobs of different seeds both built.

Each job keeps one digest per lane in its directory (``lanes.txt``, one hex digest a
line, lane order; :func:`sweeper.core.lanes.lane_digests`). The sweep's end reads them back
from the job directories, as the summary does, so it works with every launcher.

Jobs of one seed may share lanes by design: ``split_rngs`` gives lane i the same key for
every N (``jax.random.split(key, N)[i]`` does not depend on N under
``jax_threefry_partitionable``), and jobs that differ only in how they measure rebuild
the same ensemble. Across seeds a shared lane is an overlap: the sweep holds fewer
independent models than it seems to (``constructor=loop`` does this: seed s + 1 rebuilds
N - 1 lanes of seed s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sweeper.records import job_dirs, read_record, write_atomic

LANES = "lanes.txt"
MAX_EXAMPLES = 10


def write_lane_digests(job_dir: Path, digests: list[str]) -> None:
    write_atomic(Path(job_dir) / LANES, "".join(f"{d}\n" for d in digests))


def read_lane_digests(job_dir: Path) -> list[str]:
    try:
        return (Path(job_dir) / LANES).read_text().split()
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class SharedLanes:
    count: int  # distinct lanes found in jobs of more than one seed
    examples: list[str]  # "job 0 lane 1 = job 1 lane 0", at most MAX_EXAMPLES

    def report(self) -> str:
        """One line, then one per example; empty when no lane is shared."""
        if not self.count:
            return ""
        head = (
            f"shared lanes: {self.count} lane{'s' if self.count > 1 else ''} built by jobs of different seeds "
            "(the sweep holds fewer independent models than it seems to):"
        )
        fix = "  fix: split every seed's lane keys from one root key, as constructor=vmap does (README: loop)"
        return "\n".join([head] + [f"  {line}" for line in self.examples] + [fix])


def find_shared_lanes(sweep_dir: Path) -> SharedLanes:
    """Lanes whose digest appears in jobs of different seeds, with examples in job order."""
    first: dict[str, tuple[int, int, object]] = {}  # digest -> (job, lane, seed) of its first sighting
    shared: set[str] = set()
    examples: list[str] = []
    for job_dir in job_dirs(sweep_dir):
        record = read_record(job_dir)
        seed = None if record is None else record.get("config", {}).get("seed")
        job = int(job_dir.name)
        for lane, digest in enumerate(read_lane_digests(job_dir)):
            seen = first.setdefault(digest, (job, lane, seed))
            if seen[0] != job and seen[2] != seed:
                shared.add(digest)
                if len(examples) < MAX_EXAMPLES:
                    examples.append(f"job {seen[0]} lane {seen[1]} = job {job} lane {lane}")
    return SharedLanes(len(shared), examples)
