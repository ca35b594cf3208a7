"""scripts/install.sh: options, and `--venv DIR` installing `qserv` into a virtual environment
instead of the system interpreter (the default stays the system's python3, which the README's
`bash scripts/install.sh && qserv demo` relies on)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install.sh"


def run(*args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_options():
    assert "--venv DIR" in run("--help").stdout
    assert run("--no-such-option").returncode == 2
    assert "needs a directory" in run("--venv").stderr


def test_venv(tmp_path):
    """Into a virtual environment (made here with the system's packages visible, so that pip
    has nothing to download: the script installs the project into it)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    proc = run("--venv", str(venv), "--no-compiled", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"installed: {venv}/bin/qserv" in proc.stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run([str(venv / "bin" / "qserv"), "--version"], capture_output=True,
                             text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("qserv "), version
    # the package was installed into the venv itself, not only seen in the system's packages
    listed = subprocess.run([str(venv / "bin" / "python3"), "-m", "pip", "list", "--local"],
                            capture_output=True, text=True, env=env).stdout
    assert "qserv-py" in listed, listed
