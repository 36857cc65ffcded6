"""Side-by-side timing shared by the benchmarks: A/B runs in alternating processes, timed hook work."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
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
