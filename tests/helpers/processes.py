"""Starting ``sweeper`` in the background as a terminal or a scheduler does, and watching its processes."""

import subprocess
import time
from pathlib import Path

from .cli import SWEEPER

PATIENCE_S = 600  # a guard against a hung test, never a verdict: machines under load are slow


def start_sweeper(cwd, *args):
    """``sweeper ARGS`` in its own process group (as a terminal gives a command), stdin from /dev/null."""
    return subprocess.Popen(
        [SWEEPER, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, process) -> None:
    """Until ``path`` exists; fails if the process ends first."""
    deadline = time.monotonic() + PATIENCE_S
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def start_and_wait_for_job(cwd, sweep_dir, job, *args):
    """Start a sweep and return once job ``job`` has been running for a second."""
    process = start_sweeper(cwd, *args)
    wait_for(Path(cwd) / sweep_dir / str(job) / ".hydra" / "config.yaml", process)
    time.sleep(1.0)  # inside the job
    return process


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``: their command lines by pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def descendants(pid: int) -> dict[int, str]:
    found = children(pid)
    for child in list(found):
        found |= descendants(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended: only its parent has not read its status


def wait_gone(pids) -> list[int]:
    """Wait (within the patience guard) for these processes to end; the ones still alive."""
    deadline = time.monotonic() + PATIENCE_S
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def w_and_b_process(sweep_pid: int) -> int:
    """The sweep's W&B process: its child started by ``multiprocessing``'s spawn."""
    deadline = time.monotonic() + PATIENCE_S
    while not (found := [p for p, cmd in children(sweep_pid).items() if "spawn_main" in cmd]):
        assert time.monotonic() < deadline and alive(sweep_pid)
        time.sleep(0.05)
    return found[0]
