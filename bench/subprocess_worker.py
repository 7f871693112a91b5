"""Measurements in a child process of their own, so each one's peak memory is its own.

A benchmark module runs itself with ``--worker ...``; the worker prints one line
``RESULT <json>`` (:func:`emit`) and the parent reads it back (:func:`run_worker`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RESULT = "RESULT "


def emit(result: dict) -> None:
    """Print a worker's result where :func:`run_worker` finds it."""
    print(RESULT + json.dumps(result))


def run_worker(module: str, args: list[str], label: str) -> dict:
    """Run ``python -m module args`` from the repository root; return the result it emitted."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise RuntimeError(f"{label} worker failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
