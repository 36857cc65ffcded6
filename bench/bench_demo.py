#!/usr/bin/env python
"""Wall time of the demo per stage, from a fresh work folder, against the 10-minute target.

Runs tools/demo.py as `make demo` does (default settings unless arguments
are passed through) in a new temporary folder and prints the seconds of each
stage that the demo itself records in timings.json.
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 600.0


def main():
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        proc = subprocess.run([sys.executable, str(ROOT / 'tools/demo.py'), '--work-dir', tmp, *sys.argv[1:]],
                              cwd=ROOT)
        wall = time.time() - t0
        if proc.returncode:
            sys.exit(f'the demo failed ({proc.returncode})')
        timings = json.loads((Path(tmp) / 'timings.json').read_text())
    print('demo wall time per stage (fresh work folder):')
    for stage, seconds in timings.items():
        if stage != 'total':
            print(f'  {stage:10s} {seconds:7.1f} s')
    print(f'  {"total":10s} {timings["total"]:7.1f} s in stages, {wall:.1f} s with interpreter start; '
          f'target {TARGET:.0f} s: ratio {wall / TARGET:.2f}')


if __name__ == '__main__':
    main()
