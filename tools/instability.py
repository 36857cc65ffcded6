#!/usr/bin/env python
"""Instability analysis of a ticket (Frankle et al., ICML 2020): is it stable to data order?

  instability.py CONFIG [--ticket T] [--seeds 0 1] [--alphas 30] [--bn-batches 20]
                 [--threshold 2.0] [--metric KEY] [--work-dir W] [--out OUT.json] [--png OUT.png]

Trains two copies of CONFIG with the stock Runner, from the same starting
weights under the same ticket (the config's SparseBackbone, or --ticket
through MaskApplyHook; without either, the dense model), differing only in
their randomness seed (data order and augmentation draws). Then evaluates
the linear path between their final weights at --alphas evenly spaced
points, ends included, with the config's validation evaluator; the masks
hold at every point, and every point's BatchNorm statistics are recomputed
on the same --bn-batches training batches (interpolated weights fit neither
copy's statistics; the ends are judged the same way; the batches are the
first ones of the training set in its own order, augmented with seed 0,
whatever the copies' seeds). Prints the metric along the path, the barrier
(the mean of the two ends minus the worst point) and the verdict: stable
when the barrier is below --threshold (2 points, as the paper). The
procedure is ltcv_mm.engine.linear_path (the demo's --instability runs it).
"""
import argparse
import json
import sys
from pathlib import Path

from cli_checks import existing_file, number_in, output_file, whole_number


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--ticket', help='ticket enforced by MaskApplyHook (default: the config\'s own)')
    p.add_argument('--seeds', type=whole_number(0, 2 ** 31 - 1), nargs=2, default=[0, 1],
                   help='randomness seeds of the two copies')
    p.add_argument('--alphas', type=whole_number(2, 10 ** 6), default=30,
                   help='points on the path, ends included (default 30)')
    p.add_argument('--bn-batches', type=whole_number(0, 10 ** 9), default=20,
                   help='training batches for BatchNorm statistics '
                   '(0: keep the interpolated running statistics; each end is then exactly its copy)')
    p.add_argument('--threshold', type=number_in(0, what='a barrier'), default=2.0,
                   help='barrier below which the ticket is stable')
    p.add_argument('--metric', help='validation metric (default: the first)')
    p.add_argument('--work-dir', default='work_dirs/instability')
    p.add_argument('--out', help='JSON with the path')
    p.add_argument('--png', help='plot of the metric along the path')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    existing_file(args.config, 'CONFIG')
    existing_file(args.ticket, '--ticket')
    output_file(args.out, '--out')
    output_file(args.png, '--png')
    from mmengine.config import Config

    import ltcv_mm  # noqa: F401
    from ltcv_mm.core import atomic_write_bytes
    from ltcv_mm.engine.linear_path import linear_path

    cfg = Config.fromfile(args.config)
    cfg.setdefault('custom_imports', dict(imports=['ltcv_mm'], allow_failed_imports=False))
    hooks = list(cfg.get('custom_hooks') or [])
    if args.ticket:
        hooks.append(dict(type='ltcv.MaskApplyHook', ticket=args.ticket))
    cfg.custom_hooks = hooks
    try:
        record = linear_path(cfg, Path(args.work_dir), args.seeds, args.alphas, args.bn_batches, args.metric,
                             args.threshold, log=lambda line: print(line, flush=True))
    except (KeyError, ValueError) as e:
        sys.exit(f'error: {e.args[0]}')
    if not record['ticket']:
        print('note: the model carries no ticket (no --ticket, no SparseBackbone): this is the dense model\'s path')
    record = {'config': args.config, **record}
    if args.out:
        atomic_write_bytes(Path(args.out), json.dumps(record, indent=1, allow_nan=False).encode())
        print(f'wrote {args.out}')
    if args.png:
        from ltcv_mm.analysis.plots import path_curve
        values = [p['metric'] for p in record['path']]
        path_curve([p['alpha'] for p in record['path']], values, record['metric'], Path(args.png),
                   title=f'barrier {_shown(record["barrier"])} ({record["verdict"]}), seeds {args.seeds[0]} '
                         f'and {args.seeds[1]}')
        print(f'wrote {args.png}')


def _shown(value: float | None) -> str:
    return 'undefined' if value is None else f'{value:.2f}'


if __name__ == '__main__':
    main()
