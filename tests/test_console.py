"""The console tells the story: one line per job, a single run's numbers and paths, progress on a terminal."""

import io
import time

import pytest

from sweeper.cli.progress import Progress

from .helpers.cli import sweeper


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _wait_for(condition, what):
    deadline = time.monotonic() + 60  # a limit under load, never a measured result
    while not condition():
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.01)


def test_a_long_job_shows_what_it_does_on_a_terminal_and_clears_the_line():
    screen = Terminal()
    with Progress("job", stream=screen, after=0, every=0.01) as progress:
        progress.phase("measuring")
        _wait_for(lambda: "job: measuring (" in screen.getvalue(), "progress line")
    assert screen.getvalue().endswith("\r")  # the last line drawn was blanked out
    assert screen.getvalue().rsplit("\r", 2)[-2].strip() == ""


def test_nothing_is_written_when_output_is_not_a_terminal():
    log = io.StringIO()
    with Progress("job", stream=log, after=0, every=0.01) as progress:
        progress.phase("measuring")
        assert progress.thread is None
    assert log.getvalue() == ""


@pytest.mark.slow
def test_one_line_per_job_and_the_end_says_where_to_look(tmp_path):
    done = sweeper("-m", "seed=0", "num_inits=1,2", "features=4", "hydra.sweep.dir=outputs/c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sweeper: 2 jobs (num_inits=1,2) -> outputs/c"
    assert [line for line in lines[1:] if "num_inits=" in line] == [
        line for line in lines if line.startswith(("[1/2] ", "[2/2] "))
    ]  # Hydra's "#0 : ..." launch lines are gone
    assert not any(line.startswith("Launching") for line in lines)
    assert lines[-1] == "look: wandb leet outputs/c/wandb   upload: wandb sync outputs/c/wandb/offline-run-*"


@pytest.mark.slow
def test_a_single_run_prints_its_numbers_verdict_record_and_run(tmp_path):
    done = sweeper("num_inits=4", "features=4", "hydra.run.dir=outputs/one", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("features=4,num_inits=4: ok (")
    assert lines[1].startswith("N=4 F=4 linear vmap; 4 of 4 lanes distinct; L2/√P min ")
    assert lines[2] == f"record: {tmp_path / 'outputs' / 'one' / 'result.json'}"
    run_dir = (tmp_path / "outputs" / "one" / "wandb").glob("offline-run-*")
    assert lines[3].startswith(f"W&B run: {next(run_dir)}  (look: wandb leet ")
