"""Running the installed ``sweeper`` command as a user types it."""

import subprocess
import sys
from pathlib import Path

SWEEPER = str(Path(sys.executable).with_name("sweeper"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sweeper(*args, cwd, env=None, command=(SWEEPER,)):
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def install_wheel(tmp_path: Path) -> Path:
    """Build this repository's wheel and install it, without dependencies, into ``tmp_path/site``."""
    repo = Path(__file__).resolve().parents[2]
    pip = (sys.executable, "-m", "pip")
    wheels, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(repo)], check=True)
    [wheel] = wheels.glob("sweeper-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True)
    return site
