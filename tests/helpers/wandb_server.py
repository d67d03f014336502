"""A real W&B-compatible server on loopback (``openwandb``, a test-only dependency) and its database."""

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

API_KEY = "local0000000000000000000000000000000000000000"  # the key openwandb accepts for its admin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def openwandb(data_dir: Path):
    """``openwandb serve`` on a free loopback port; yields its base URL, stops it after."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("openwandb")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(data_dir.parent / "openwandb.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([*command, "--data-dir", str(data_dir), "--log-level", "warning"], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # start-up under load: a limit, never a measured result
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError, OSError) as err:
                if server.poll() is not None or time.monotonic() > deadline:
                    text = (data_dir.parent / "openwandb.log").read_text()
                    raise RuntimeError(f"openwandb did not start: {text}") from err
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def stored_runs(data_dir: Path) -> dict[str, dict]:
    """Every run the server stored, by display name: its run id, state, config and summary."""
    with sqlite3.connect(data_dir / "openwandb.db") as db:
        rows = db.execute("select run_id, display_name, state, config_json, summary_json from runs").fetchall()
    runs = {}
    for run_id, name, state, config, summary in rows:
        assert name not in runs, f"two runs named {name}"
        config = {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in json.loads(config).items()}
        runs[name] = {"id": run_id, "state": state, "config": config, "summary": json.loads(summary or "{}")}
    return runs
