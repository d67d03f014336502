"""Files the sweep writes follow the user's umask; a closed pipe ends the command quietly."""

import os
import subprocess

import pytest

from sweeper.records import write_atomic, write_record

from .helpers.cli import SWEEPER


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_records_are_written_with_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_record(tmp_path / "0", {"status": "ok"})
        write_atomic(tmp_path / "summary.csv", "a,b\n")
    finally:
        os.umask(old)
    assert (tmp_path / "0" / "result.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "summary.csv").stat().st_mode & 0o777 == mode


@pytest.mark.slow
def test_help_into_a_closed_pipe_ends_quietly(tmp_path):
    # `sweeper --help | head`: the reader is gone before the help is written
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([SWEEPER, "--help"], cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
