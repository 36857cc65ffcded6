#!/usr/bin/env python
"""One benchmark on two versions of the code, side by side in one run: this tree against a git revision.

  python bench/bench_versions.py --base REV [--repeats N] BENCH.py [BENCH ARGS ...]

The base revision is checked out into a temporary git worktree; the two
versions then run the benchmark script (its own copy in each tree, with
``--json``) one after the other, the order swapped every repeat so that
drift of the machine cancels. Prints, for every figure the benchmark
writes, the median of each version and their ratio (this tree / base).
Refactors that must not cost anything are checked with it (e.g. IMP step
and masking overheads: ``bench_prune.py``, ``bench_mask_apply.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flat(figures: dict, prefix: str = '') -> dict:
    """``{'round1': {'speedup': 18.1}}`` -> ``{'round1.speedup': 18.1}``: every number of a benchmark's JSON."""
    out = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update(flat(value, f'{prefix}{key}.'))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix + key] = value
    return out


def run_bench(tree: Path, script: str, args: list[str], out: Path) -> dict:
    proc = subprocess.run([sys.executable, str(tree / 'bench' / script), *args, '--json', str(out)], cwd=tree,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tree)))
    if proc.returncode:
        sys.exit(f'{script} failed in {tree}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}')
    return flat(json.loads(out.read_text()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--base', default='HEAD', help='the git revision to compare with (default HEAD)')
    p.add_argument('--repeats', type=int, default=2, help='runs of the benchmark per version')
    p.add_argument('script', help='a benchmark of bench/ that takes --json, e.g. bench_prune.py')
    p.add_argument('args', nargs=argparse.REMAINDER, help='its own arguments')
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / 'base'
        subprocess.run(['git', 'worktree', 'add', '--detach', str(base), a.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            trees = {'base': base, 'this': ROOT}
            figures: dict[str, list[dict]] = {k: [] for k in trees}
            for rep in range(a.repeats):
                for name in (('base', 'this') if rep % 2 == 0 else ('this', 'base')):
                    figures[name].append(run_bench(trees[name], a.script, a.args, Path(tmp) / f'{name}{rep}.json'))
                    print(f'  run {rep + 1}/{a.repeats}: {name} done', flush=True)
        finally:
            subprocess.run(['git', 'worktree', 'remove', '--force', str(base)], cwd=ROOT, capture_output=True)
    rev = subprocess.run(['git', 'rev-parse', '--short', a.base], cwd=ROOT, capture_output=True, text=True).stdout
    print(f'{a.script} {" ".join(a.args)}: medians of {a.repeats} runs each; base {a.base} ({rev.strip()}), '
          f'this = the working tree')
    print(f'  {"figure":44s} {"base":>12s} {"this":>12s} {"this/base":>10s}')
    for key in figures['base'][0]:
        values = {k: [f[key] for f in fs if key in f] for k, fs in figures.items()}
        if not values['this']:
            continue
        b, t = statistics.median(values['base']), statistics.median(values['this'])
        print(f'  {key:44s} {b:12.6g} {t:12.6g} {t / b if b else float("nan"):10.3f}')


if __name__ == '__main__':
    main()
