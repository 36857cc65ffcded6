#!/usr/bin/env python
"""What pinning oneDNN and MKL to their AVX2 code (demo/cpu_kernels.py) costs the demo's training steps.

Two shapes of the demo's work, each a ResNet-50 at width 8 (the demo's) training with SGD: pre-training
(batch 32 of 32 px, 2 threads, as the demo's own process runs it) and a transfer worker's backbone
(batch 8 of 64 px, 1 thread). Runs alternate between the CPU's own kernels and the pinned ones, each
in a fresh process (the variables are read when torch loads), the order swapped every repeat; prints
the median step time of each and the ratio pinned / own.
"""
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ('own', 'pinned')
SHAPES = {'pre-training': (32, 32, 2), 'transfer worker': (8, 64, 1)}  # batch, pixels, threads


def _pin_for_worker() -> None:
    """In a worker process, before torch loads: the pinned kernels or none at all."""
    sys.path.insert(0, str(ROOT))
    from demo import cpu_kernels
    kind = sys.argv[sys.argv.index('--worker') + 1]
    for name in cpu_kernels.PINS:
        os.environ.pop(name, None)
    if kind == 'pinned':
        cpu_kernels.pin()


def worker(tmp: Path, kind: str, args) -> dict:
    import torch
    from mmpretrain.models import ResNet
    out = {}
    for shape, (batch, size, threads) in SHAPES.items():
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = ResNet(depth=50, stem_channels=8, base_channels=8)
        head = torch.nn.Linear(256, 10)
        opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
        x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(head(model(x)[-1].mean((2, 3))), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        out[shape] = times[args.warmup:]
    return out


def main():
    from ab_runs import ab_benchmark, write_figures
    ran = ab_benchmark(__file__, __doc__, KINDS, lambda tmp, size: None, worker, iters=25, warmup=5, size=0)
    if ran is None:
        return
    args, runs = ran
    figures = {}
    print(f'ResNet-50 at width 8, SGD training steps; median over {args.repeats} runs x {args.iters - args.warmup} '
          'timed steps, own CPU kernels against oneDNN and MKL pinned to AVX2:')
    for shape, (batch, size, threads) in SHAPES.items():
        step = {k: statistics.median(t for r in runs[k] for t in r[shape]) for k in KINDS}
        figures[shape] = dict(step, ratio=step['pinned'] / step['own'])
        print(f'  {shape:15s} batch {batch:2d} at {size} px, {threads} thread(s): own {step["own"] * 1000:.1f} ms, '
              f'pinned {step["pinned"] * 1000:.1f} ms, pinned / own {figures[shape]["ratio"]:.3f}')
    write_figures(args, figures)


if __name__ == '__main__':
    if '--worker' in sys.argv:
        _pin_for_worker()
    sys.path.insert(0, str(ROOT / 'bench'))
    main()
