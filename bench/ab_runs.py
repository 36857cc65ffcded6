"""Side-by-side timing shared by the benchmarks: A/B runs in alternating processes, timed hook work."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def timed(fn: Callable, spent: list[float]) -> Callable:
    """``fn`` that also appends its own run time (seconds) to ``spent``."""
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        spent.append(time.perf_counter() - t0)
        return out
    return wrapper


def time_masking(masking, spent: list[float]) -> None:
    """Time the work of attached tickets (``ltcv_mm.core.masking``): the root's forward hook, each
    parameter's gradient hook and the fused gradient mask at the end of backward. Call before the
    model is built: the forward hook is registered at attach time."""
    masking._GradMask.__call__ = timed(masking._GradMask.__call__, spent)
    masking._before_forward = timed(masking._before_forward, spent)
    masking._mask_grads_at_end = timed(masking._mask_grads_at_end, spent)


def alternate(script: str, kinds: tuple[str, str], repeats: int, args: list[str]) -> dict[str, list[dict]]:
    """Run ``script --worker KIND ARGS`` for both kinds, ``repeats`` times each, each run in a fresh
    process and with the order swapped every repeat so that drift and order effects cancel.
    Every worker prints one JSON object as its last line."""
    runs = {k: [] for k in kinds}
    for rep in range(repeats):
        for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
            proc = subprocess.run([sys.executable, script, '--worker', kind, *args], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f'{kind} worker failed:\n{proc.stderr[-3000:]}')
            runs[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs


def median_step(runs: list[dict], warmup: int) -> float:
    """Median of mmengine's per-iteration times over all runs, warm-up iterations dropped."""
    return statistics.median(t for r in runs for t in r['times'][warmup:])


def ab_benchmark(script: str, doc: str, kinds: tuple[str, str], make_inputs: Callable, worker: Callable,
                 **int_options: int) -> tuple[argparse.Namespace, dict[str, list[dict]]] | None:
    """The command line and the runs of an A/B benchmark.

    Options: ``--repeats``, one ``--NAME`` per int option (``size`` is passed
    to ``make_inputs``; all of them to the workers), ``--json``. Run as a
    worker (``--worker KIND``), it prints ``worker(tmp, kind, args)`` as JSON
    and returns None; otherwise it makes the inputs once, alternates the two
    kinds and returns ``(args, runs)``.
    """
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=3)
    for name, default in int_options.items():
        p.add_argument(f'--{name}', type=int, default=default)
    p.add_argument('--json', help='also write the figures here')
    p.add_argument('--worker', choices=kinds, help=argparse.SUPPRESS)
    p.add_argument('--tmp', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.tmp), args.worker, args)))
        return None
    passed = [x for name in int_options for x in (f'--{name}', str(getattr(args, name)))]
    with tempfile.TemporaryDirectory() as tmp:
        make_inputs(Path(tmp), args.size)
        runs = alternate(script, kinds, args.repeats, ['--tmp', tmp, *passed])
    return args, runs


def write_figures(args: argparse.Namespace, figures: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
