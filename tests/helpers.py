"""Helpers the tests share (fixtures live in conftest.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args: str, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a script of tools/ the way a user does, in a fresh interpreter."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc
